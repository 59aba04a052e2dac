//! The modifiers of gjson v1.18's default table (`@pretty`, `@ugly`, `@reverse`, `@this`,
//! `@flatten`, `@join`, `@valid`, `@keys`, `@values`, `@tostr`, `@fromstr`, `@group`, `@dig`).
//! Each takes the JSON text it is applied to and its argument text, and returns new JSON text.

use crate::path::get;
use crate::pretty::{self, Options};
use crate::value::{Value, for_each, parse};
use crate::{Ctx, scan, valid};

#[derive(Clone, Copy, Debug)]
pub(crate) enum Modifier {
    Pretty,
    Ugly,
    Reverse,
    This,
    Flatten,
    Join,
    Valid,
    Keys,
    Values,
    ToStr,
    FromStr,
    Group,
    Dig,
}

impl Modifier {
    pub(crate) fn named(name: &[u8]) -> Option<Modifier> {
        Some(match name {
            b"pretty" => Modifier::Pretty,
            b"ugly" => Modifier::Ugly,
            b"reverse" => Modifier::Reverse,
            b"this" => Modifier::This,
            b"flatten" => Modifier::Flatten,
            b"join" => Modifier::Join,
            b"valid" => Modifier::Valid,
            b"keys" => Modifier::Keys,
            b"values" => Modifier::Values,
            b"tostr" => Modifier::ToStr,
            b"fromstr" => Modifier::FromStr,
            b"group" => Modifier::Group,
            b"dig" => Modifier::Dig,
            _ => return None,
        })
    }

    pub(crate) fn apply(self, ctx: &mut Ctx, json: &[u8], arg: &[u8]) -> Vec<u8> {
        if !ctx.charge(json.len() + arg.len() + 1) {
            return Vec::new();
        }
        match self {
            Modifier::Pretty => pretty_with(ctx, json, arg),
            Modifier::Ugly => pretty::ugly(json),
            Modifier::Reverse => reverse(json),
            Modifier::This => json.to_vec(),
            Modifier::Flatten => flatten(ctx, json, arg),
            Modifier::Join => join(json, arg),
            Modifier::Valid => {
                if valid::valid(json) {
                    json.to_vec()
                } else {
                    Vec::new()
                }
            }
            Modifier::Keys => keys(json),
            Modifier::Values => values(json),
            Modifier::ToStr => {
                let mut out = Vec::with_capacity(json.len() + 2);
                scan::push_json_string(&mut out, json);
                out
            }
            Modifier::FromStr => {
                if valid::valid(json) {
                    parse(json).text()
                } else {
                    Vec::new()
                }
            }
            Modifier::Group => group(ctx, json),
            Modifier::Dig => dig(ctx, json, arg),
        }
    }
}

/// Calls `f` with each member's key (as a string value) and value of the argument object.
fn options(arg: &[u8], mut f: impl FnMut(&[u8], &Value)) {
    if arg.is_empty() {
        return;
    }
    for_each(&parse(arg), |key, value| {
        let name = key.map(Value::text).unwrap_or_default();
        f(&name, &value);
        true
    });
}

/// Keeps only the white space of `s`.
fn white_space_only(s: &[u8]) -> Vec<u8> {
    s.iter()
        .copied()
        .filter(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .collect()
}

fn pretty_with(ctx: &mut Ctx, json: &[u8], arg: &[u8]) -> Vec<u8> {
    let mut opts = Options::default();
    options(arg, |name, value| match name {
        b"sortKeys" => opts.sort_keys = value.truthy(),
        b"indent" => opts.indent = white_space_only(&value.text()),
        b"prefix" => opts.prefix = white_space_only(&value.text()),
        b"width" => opts.width = value.int(),
        _ => {}
    });
    let out = pretty::pretty(ctx, json, &opts);
    if ctx.failed() { Vec::new() } else { out }
}

fn join_with_commas<'a>(open: u8, parts: impl IntoIterator<Item = &'a [u8]>, close: u8) -> Vec<u8> {
    let mut out = vec![open];
    for (k, part) in parts.into_iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        out.extend_from_slice(part);
    }
    out.push(close);
    out
}

fn reverse(json: &[u8]) -> Vec<u8> {
    let res = parse(json);
    if res.is_array() {
        let mut items = Vec::new();
        for_each(&res, |_, v| {
            items.push(v.raw);
            true
        });
        return join_with_commas(b'[', items.iter().rev().map(Vec::as_slice), b']');
    }
    if res.is_object() {
        let mut members = Vec::new();
        for_each(&res, |k, v| {
            let mut m = k.map(|k| k.raw.clone()).unwrap_or_default();
            m.push(b':');
            m.extend_from_slice(&v.raw);
            members.push(m);
            true
        });
        return join_with_commas(b'{', members.iter().rev().map(Vec::as_slice), b'}');
    }
    json.to_vec()
}

/// Drops the outer brackets of an array or object text (after trimming it).
fn unwrap(json: &[u8]) -> &[u8] {
    let t = scan::trim(json);
    if t.len() >= 2 && matches!(t[0], b'[' | b'{') {
        &t[1..t.len() - 1]
    } else {
        t
    }
}

fn flatten(ctx: &mut Ctx, json: &[u8], arg: &[u8]) -> Vec<u8> {
    if !ctx.enter() {
        return Vec::new();
    }
    let out = flatten_inner(ctx, json, arg);
    ctx.leave();
    out
}

fn flatten_inner(ctx: &mut Ctx, json: &[u8], arg: &[u8]) -> Vec<u8> {
    let res = parse(json);
    if !res.is_array() {
        return json.to_vec();
    }
    let mut deep = false;
    options(arg, |name, value| {
        if name == b"deep" {
            deep = value.truthy();
        }
    });
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut elements = Vec::new();
    for_each(&res, |_, v| {
        elements.push(v);
        true
    });
    for v in elements {
        let raw = if v.is_array() {
            if deep {
                unwrap(&flatten(ctx, &v.raw, arg)).to_vec()
            } else {
                unwrap(&v.raw).to_vec()
            }
        } else {
            v.raw
        };
        let raw = scan::trim_unicode_space(&raw);
        if !raw.is_empty() {
            parts.push(raw.to_vec());
        }
    }
    join_with_commas(b'[', parts.iter().map(Vec::as_slice), b']')
}

fn keys(json: &[u8]) -> Vec<u8> {
    let v = parse(json);
    if !v.exists() {
        return b"[]".to_vec();
    }
    let object = v.is_object();
    let mut items = Vec::new();
    for_each(&v, |k, _| {
        items.push(match (object, k) {
            (true, Some(k)) => k.raw.clone(),
            _ => b"null".to_vec(),
        });
        true
    });
    join_with_commas(b'[', items.iter().map(Vec::as_slice), b']')
}

fn values(json: &[u8]) -> Vec<u8> {
    let v = parse(json);
    if !v.exists() {
        return b"[]".to_vec();
    }
    if v.is_array() {
        return json.to_vec();
    }
    let mut items = Vec::new();
    for_each(&v, |_, value| {
        items.push(value.raw);
        true
    });
    join_with_commas(b'[', items.iter().map(Vec::as_slice), b']')
}

fn join(json: &[u8], arg: &[u8]) -> Vec<u8> {
    let res = parse(json);
    if !res.is_array() {
        return json.to_vec();
    }
    let mut preserve = false;
    options(arg, |name, value| {
        if name == b"preserve" {
            preserve = value.truthy();
        }
    });
    let mut objects = Vec::new();
    for_each(&res, |_, v| {
        if v.is_object() {
            objects.push(v);
        }
        true
    });
    if preserve {
        return join_with_commas(b'{', objects.iter().map(|o| unwrap(&o.raw)), b'}');
    }
    // Each key once, where it first appears, with the value it last has.
    let mut order: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut last: std::collections::HashMap<Vec<u8>, Vec<u8>> = std::collections::HashMap::new();
    for o in &objects {
        for_each(o, |k, v| {
            let Some(k) = k else { return true };
            let name = k.text();
            if !last.contains_key(&name) {
                order.push((name.clone(), k.raw.clone()));
            }
            last.insert(name, v.raw);
            true
        });
    }
    let members: Vec<Vec<u8>> = order
        .iter()
        .map(|(name, raw)| {
            let mut m = raw.clone();
            m.push(b':');
            m.extend_from_slice(last.get(name).map_or(&[][..], Vec::as_slice));
            m
        })
        .collect();
    join_with_commas(b'{', members.iter().map(Vec::as_slice), b'}')
}

fn group(ctx: &mut Ctx, json: &[u8]) -> Vec<u8> {
    let res = parse(json);
    if !res.is_object() {
        return Vec::new();
    }
    let mut rows: Vec<Vec<u8>> = Vec::new();
    for_each(&res, |k, v| {
        if !v.is_array() {
            return true;
        }
        let key = k.map(|k| k.raw.clone()).unwrap_or_default();
        let mut idx = 0;
        for_each(&v, |_, item| {
            // Each item repeats its key: pay for that before building it.
            if !ctx.charge(key.len() + item.raw.len() + 2) {
                return false;
            }
            if idx == rows.len() {
                rows.push(Vec::new());
            }
            let row = &mut rows[idx];
            row.push(b',');
            row.extend_from_slice(&key);
            row.push(b':');
            row.extend_from_slice(&item.raw);
            idx += 1;
            true
        });
        true
    });
    if ctx.failed() {
        return Vec::new();
    }
    let objects: Vec<Vec<u8>> = rows
        .iter()
        .map(|row| {
            let mut o = vec![b'{'];
            o.extend_from_slice(&row[1..]);
            o.push(b'}');
            o
        })
        .collect();
    join_with_commas(b'[', objects.iter().map(Vec::as_slice), b']')
}

fn dig(ctx: &mut Ctx, json: &[u8], path: &[u8]) -> Vec<u8> {
    let mut found = Vec::new();
    descend(ctx, &parse(json), path, &mut found);
    join_with_commas(b'[', found.iter().map(Vec::as_slice), b']')
}

fn descend(ctx: &mut Ctx, node: &Value, path: &[u8], found: &mut Vec<Vec<u8>>) {
    if !ctx.enter() {
        return;
    }
    let res = get(ctx, &node.raw, path);
    if res.exists() {
        found.push(res.raw);
    }
    if node.is_array() || node.is_object() {
        let mut children = Vec::new();
        for_each(node, |_, v| {
            children.push(v);
            true
        });
        for child in &children {
            descend(ctx, child, path, found);
        }
    }
    ctx.leave();
}
