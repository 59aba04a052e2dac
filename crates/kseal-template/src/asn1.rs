//! A small DER reader and writer for the structures the PKCS#12 and key functions take apart and
//! build (keystores, PKCS#8 keys). Like Go's `encoding/asn1`, it reads definite, minimal lengths and
//! one-byte tags only, and ignores elements a SEQUENCE has past the ones asked for.

use crate::value::FuncError;

pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const SET: u8 = 0x31;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const OID: u8 = 0x06;
pub(crate) const BMP_STRING: u8 = 0x1e;
/// `[0]` constructed (EXPLICIT).
pub(crate) const CTX0: u8 = 0xa0;
/// `[1]` constructed (EXPLICIT).
pub(crate) const CTX1: u8 = 0xa1;
/// `[0]` primitive (IMPLICIT OCTET STRING).
pub(crate) const CTX0_PRIM: u8 = 0x80;

/// One DER element: its tag and its contents.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tlv<'a> {
    pub(crate) tag: u8,
    pub(crate) body: &'a [u8],
}

fn bad<T>(what: &str) -> Result<T, FuncError> {
    Err(FuncError::Invalid(format!("{what}: malformed ASN.1 data")))
}

/// Reads one element from the start of `input`; returns it and what follows.
pub(crate) fn read<'a>(input: &'a [u8], what: &str) -> Result<(Tlv<'a>, &'a [u8]), FuncError> {
    let [tag, first, rest @ ..] = input else {
        return bad(what);
    };
    if tag & 0x1f == 0x1f {
        return bad(what);
    }
    let (len, rest) = if first & 0x80 == 0 {
        (usize::from(*first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n || rest[0] == 0 {
            return bad(what);
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        if len < 0x80 {
            return bad(what);
        }
        (len, &rest[n..])
    };
    if rest.len() < len {
        return bad(what);
    }
    Ok((
        Tlv {
            tag: *tag,
            body: &rest[..len],
        },
        &rest[len..],
    ))
}

/// Reads exactly one element of tag `tag` (nothing may follow it).
pub(crate) fn whole<'a>(input: &'a [u8], tag: u8, what: &str) -> Result<Tlv<'a>, FuncError> {
    let (tlv, rest) = read(input, what)?;
    if tlv.tag != tag || !rest.is_empty() {
        return bad(what);
    }
    Ok(tlv)
}

/// The elements of a SEQUENCE's or SET's contents.
pub(crate) fn items<'a>(mut body: &'a [u8], what: &str) -> Result<Vec<Tlv<'a>>, FuncError> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let (tlv, rest) = read(body, what)?;
        out.push(tlv);
        body = rest;
    }
    Ok(out)
}

/// A cursor over a SEQUENCE's elements, read in order.
pub(crate) struct Seq<'a> {
    items: Vec<Tlv<'a>>,
    next: usize,
    what: &'a str,
}

impl<'a> Seq<'a> {
    pub(crate) fn new(tlv: Tlv<'a>, what: &'a str) -> Result<Self, FuncError> {
        if tlv.tag != SEQUENCE {
            return bad(what);
        }
        Ok(Seq {
            items: items(tlv.body, what)?,
            next: 0,
            what,
        })
    }

    /// The next element, which must have tag `tag`.
    pub(crate) fn take(&mut self, tag: u8) -> Result<Tlv<'a>, FuncError> {
        match self.items.get(self.next) {
            Some(t) if t.tag == tag => {
                self.next += 1;
                Ok(*t)
            }
            _ => bad(self.what),
        }
    }

    /// The next element if it has tag `tag`.
    pub(crate) fn optional(&mut self, tag: u8) -> Option<Tlv<'a>> {
        match self.items.get(self.next) {
            Some(t) if t.tag == tag => {
                self.next += 1;
                Some(*t)
            }
            _ => None,
        }
    }
}

/// A non-negative INTEGER that fits an `i64` (Go's `int` fields).
pub(crate) fn int(tlv: Tlv<'_>, what: &str) -> Result<i64, FuncError> {
    let b = tlv.body;
    if tlv.tag != INTEGER
        || b.is_empty()
        || b.len() > 8
        || (b.len() > 1 && ((b[0] == 0 && b[1] & 0x80 == 0) || (b[0] == 0xff && b[1] & 0x80 != 0)))
    {
        return bad(what);
    }
    let neg = b[0] & 0x80 != 0;
    let v = b.iter().fold(if neg { -1i64 } else { 0 }, |acc, x| {
        (acc << 8) | i64::from(*x)
    });
    Ok(v)
}

/// An AlgorithmIdentifier: its OID's contents and its parameters, if any.
pub(crate) fn algorithm<'a>(
    tlv: Tlv<'a>,
    what: &'a str,
) -> Result<(&'a [u8], Option<Tlv<'a>>), FuncError> {
    let mut s = Seq::new(tlv, what)?;
    let oid = s.take(OID)?.body;
    let params = s.items.get(s.next).copied();
    Ok((oid, params))
}

/// Encodes one element.
pub(crate) fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 6);
    out.push(tag);
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(body);
    out
}

/// Encodes a SEQUENCE (or, with `tag`, another constructed element) of already encoded elements.
pub(crate) fn cons(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    tlv(tag, &parts.concat())
}

/// Encodes a non-negative INTEGER.
pub(crate) fn uint(v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes
        .iter()
        .take_while(|b| **b == 0)
        .count()
        .min(bytes.len() - 1);
    let mut body = bytes[skip..].to_vec();
    if body[0] & 0x80 != 0 {
        body.insert(0, 0);
    }
    tlv(INTEGER, &body)
}

/// Encodes a non-negative INTEGER given as big-endian bytes.
pub(crate) fn big_uint(be: &[u8]) -> Vec<u8> {
    let skip = be.iter().take_while(|b| **b == 0).count();
    let mut body = be[skip..].to_vec();
    if body.first().is_none_or(|b| b & 0x80 != 0) {
        body.insert(0, 0);
    }
    tlv(INTEGER, &body)
}

/// The contents of the OID `dotted` (a constant of this crate; panics on a malformed one).
pub(crate) fn oid(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted
        .split('.')
        .map(|a| a.parse().expect("a valid OID constant"))
        .collect();
    let mut out = Vec::new();
    let mut push = |mut v: u64| {
        let mut tmp = vec![(v & 0x7f) as u8];
        v >>= 7;
        while v > 0 {
            tmp.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        tmp.reverse();
        out.extend(tmp);
    };
    push(arcs[0] * 40 + arcs[1]);
    for a in &arcs[2..] {
        push(*a);
    }
    out
}

/// An encoded OBJECT IDENTIFIER element.
pub(crate) fn oid_tlv(dotted: &str) -> Vec<u8> {
    tlv(OID, &oid(dotted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_and_lengths_encode_as_der() {
        assert_eq!(
            oid_tlv("1.2.840.113549.1.7.1"),
            [6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 7, 1]
        );
        let long = tlv(OCTET_STRING, &[7; 300]);
        assert_eq!(&long[..4], &[4, 0x82, 1, 44]);
        let (t, rest) = read(&long, "x").unwrap();
        assert_eq!((t.tag, t.body.len(), rest.len()), (4, 300, 0));
        assert_eq!(uint(2048), [2, 2, 8, 0]);
        assert_eq!(uint(128), [2, 2, 0, 128]);
        assert_eq!(int(read(&uint(2048), "x").unwrap().0, "x").unwrap(), 2048);
    }

    #[test]
    fn non_minimal_lengths_are_rejected() {
        assert!(read(&[4, 0x81, 5, 1, 2, 3, 4, 5], "x").is_err());
        assert!(read(&[4, 5, 1], "x").is_err());
    }
}
