//! External Secrets Operator's own template functions that work on PEM text: `filterPEM`,
//! `filterCertChain` and `certSANs`, as ESO's template package does them with Go's `encoding/pem` and
//! `crypto/x509`. Errors say what is wrong, never what the input holds.

use std::rc::Rc;

use x509_cert::Certificate;
use x509_cert::der::Decode as _;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, SubjectAltName, SubjectKeyIdentifier};

use crate::budget::Budget;
use crate::funcs::{go_pem, invalid};
use crate::value::{FuncError, Value};

type FResult = Result<Value, FuncError>;

/// The names this module implements.
pub(crate) const FUNCTIONS: &[&str] = &["filterPEM", "filterCertChain", "certSANs"];

/// The PEM blocks of `input` and whether text other than whitespace follows the last one (or, with
/// no block, whether there is any input at all).
fn blocks(input: &str) -> (Vec<pem::Pem>, bool) {
    let found = pem::parse_many(input).unwrap_or_default();
    let rest = match input.rfind("-----END ") {
        Some(end) if !found.is_empty() => {
            let after = &input[end..];
            let line_end = after.find('\n').map_or(after.len(), |i| i + 1);
            !after[line_end..].is_empty()
        }
        _ => !input.is_empty(),
    };
    (found, rest)
}

/// [`blocks`] for the other ESO modules.
pub(crate) fn pem_blocks(input: &str) -> (Vec<pem::Pem>, bool) {
    blocks(input)
}

/// ESO's `fetchCertChains`: the certificates of `input` leaf first, or `None` if they are not one
/// chain (or one is not a certificate).
pub(crate) fn order_chain_pem(input: &str) -> Option<String> {
    let nodes = nodes(input).ok()?;
    let chain = ordered(&nodes).ok()?;
    Some(
        chain
            .iter()
            .map(|&i| go_pem("CERTIFICATE", &nodes[i].der))
            .collect(),
    )
}

struct Node {
    der: Vec<u8>,
    subject_key: Vec<u8>,
    authority_key: Option<Vec<u8>>,
}

fn nodes(input: &str) -> Result<Vec<Node>, FuncError> {
    let (found, _) = blocks(input);
    found
        .iter()
        .map(|block| {
            let cert = Certificate::from_der(block.contents())
                .or_else(|_| invalid("a PEM block is not a valid certificate"))?;
            let tbs = cert.tbs_certificate();
            let ski = tbs
                .get_extension::<SubjectKeyIdentifier>()
                .ok()
                .flatten()
                .map(|(_, s)| s.0.as_bytes().to_vec())
                .unwrap_or_default();
            let aki = tbs
                .get_extension::<AuthorityKeyIdentifier>()
                .ok()
                .flatten()
                .and_then(|(_, a)| a.key_identifier.map(|k| k.as_bytes().to_vec()));
            Ok(Node {
                der: block.contents().to_vec(),
                subject_key: ski,
                authority_key: aki,
            })
        })
        .collect()
}

/// ESO's chain ordering: leaf first, each certificate followed by the one whose subject key id is its
/// authority key id.
fn ordered(nodes: &[Node]) -> Result<Vec<usize>, FuncError> {
    let n = nodes.len();
    let mut parent = vec![None; n];
    let mut is_parent = vec![false; n];
    for i in 0..n {
        let aki = nodes[i].authority_key.as_deref().unwrap_or_default();
        if let Some(j) = (0..n).find(|&j| j != i && aki == nodes[j].subject_key.as_slice()) {
            is_parent[j] = true;
            parent[i] = Some(j);
        }
    }
    let leaves: Vec<usize> = (0..n).filter(|&i| !is_parent[i]).collect();
    let leaf = match leaves.as_slice() {
        [leaf] => *leaf,
        [] => return invalid("no leaf certificate found"),
        _ => return invalid("found multiple leaf or disjunct certificates"),
    };
    let mut chain = Vec::new();
    let mut cur = Some(leaf);
    while let Some(i) = cur {
        if chain.len() >= n {
            return invalid("constructing chain resulted in cycle");
        }
        chain.push(i);
        cur = parent[i];
    }
    Ok(chain)
}

fn is_root(node: &Node) -> bool {
    node.authority_key
        .as_deref()
        .is_none_or(|aki| aki == node.subject_key.as_slice())
}

pub(crate) fn call(name: &str, a: &[Value], b: &mut Budget) -> Option<FResult> {
    if !FUNCTIONS.contains(&name) {
        return None;
    }
    Some(call_inner(name, a, b))
}

fn call_inner(name: &str, a: &[Value], b: &mut Budget) -> FResult {
    let want = if name == "certSANs" { 1 } else { 2 };
    if a.len() != want {
        return invalid(format!(
            "wrong number of arguments: want {want}, got {}",
            a.len()
        ));
    }
    let input = a[want - 1].as_str()?;
    b.work(input.len())?;
    let out = match name {
        "filterPEM" => {
            let kind = a[0].as_str()?;
            let (found, rest) = blocks(input);
            let mut out = String::new();
            for block in found.iter().filter(|p| p.tag().eq_ignore_ascii_case(kind)) {
                out.push_str(&go_pem(block.tag(), block.contents()));
            }
            if out.is_empty() && rest {
                return invalid("error filtering pem: found junk");
            }
            out
        }
        "filterCertChain" => {
            let kind = a[0].as_str()?;
            let nodes = nodes(input)?;
            let chain = ordered(&nodes)?;
            match kind {
                "leaf" => {
                    let leaf = &nodes[chain[0]];
                    if leaf.authority_key.is_some() && !is_root(leaf) {
                        go_pem("CERTIFICATE", &leaf.der)
                    } else {
                        String::new()
                    }
                }
                "intermediate" => chain[1.min(chain.len())..]
                    .iter()
                    .map(|&i| &nodes[i])
                    .take_while(|n| !is_root(n))
                    .map(|n| go_pem("CERTIFICATE", &n.der))
                    .collect(),
                "root" => {
                    let root = &nodes[chain[chain.len() - 1]];
                    if is_root(root) {
                        go_pem("CERTIFICATE", &root.der)
                    } else {
                        String::new()
                    }
                }
                _ => String::new(),
            }
        }
        _ => {
            let (found, _) = blocks(input);
            let Some(first) = found.first() else {
                return invalid("no PEM data found");
            };
            let cert = Certificate::from_der(first.contents())
                .or_else(|_| invalid("the PEM block is not a valid certificate"))?;
            let mut dns = Vec::new();
            let mut ips = Vec::new();
            let mut emails = Vec::new();
            let mut uris = Vec::new();
            if let Ok(Some((_, san))) = cert.tbs_certificate().get_extension::<SubjectAltName>() {
                for name in san.0 {
                    match name {
                        GeneralName::DnsName(s) => dns.push(s.to_string()),
                        GeneralName::Rfc822Name(s) => emails.push(s.to_string()),
                        GeneralName::UniformResourceIdentifier(s) => uris.push(s.to_string()),
                        GeneralName::IpAddress(ip) => {
                            let bytes = ip.as_bytes();
                            if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
                                ips.push(std::net::Ipv4Addr::from(v4).to_string());
                            } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
                                ips.push(std::net::Ipv6Addr::from(v6).to_string());
                            }
                        }
                        _ => {}
                    }
                }
            }
            let all: Vec<Value> = dns
                .into_iter()
                .chain(ips)
                .chain(emails)
                .chain(uris)
                .map(Value::str)
                .collect();
            b.nodes(all.len() + 1)?;
            return Ok(Value::List(Rc::new(all)));
        }
    };
    b.produce(out.len())?;
    Ok(Value::str(out))
}
