//! gjson's `Get`: path components, escapes, wildcards, array counts and projections, queries,
//! pipes, multipaths, literals and modifiers, read over JSON text the lenient way gjson does.

use crate::value::{Kind, Value, parse, parse_any};
use crate::{Ctx, glob, modifiers, scan, valid};

/// The working state of one walk over a document: the text, what was found, and the part of
/// the path left to apply to it after a pipe.
struct Walk<'j, 'p> {
    json: &'j [u8],
    value: Value,
    pipe: Option<&'p [u8]>,
}

/// gjson `Get(json, path)`.
pub(crate) fn get(ctx: &mut Ctx, json: &[u8], path: &[u8]) -> Value {
    if !ctx.charge(json.len() + path.len() + 1) || !ctx.enter() {
        return Value::none();
    }
    let v = get_inner(ctx, json, path);
    ctx.leave();
    if ctx.failed() { Value::none() } else { v }
}

fn get_inner(ctx: &mut Ctx, json: &[u8], mut path: &[u8]) -> Value {
    if path.len() > 1 {
        let computed = match path[0] {
            b'@' => exec_modifier(ctx, json, path),
            b'!' => exec_literal(path),
            _ => None,
        };
        if let Some((rest, out)) = computed {
            if matches!(rest.first(), Some(b'|' | b'.')) {
                return get(ctx, &out, &rest[1..]);
            }
            return parse(&out);
        }
        if matches!(path[0], b'[' | b'{') {
            // gjson goes on with what follows the brackets (nothing when they do not close).
            match sub_selectors(path) {
                Some((selectors, rest)) => {
                    if rest.is_empty() || matches!(rest[0], b'|' | b'.') {
                        return multipath(ctx, json, path[0], &selectors, rest);
                    }
                    path = rest;
                }
                None => path = b"",
            }
        }
    }
    let mut walk = Walk {
        json,
        value: Value::none(),
        pipe: None,
    };
    if let Some(lines) = path.strip_prefix(b"..") {
        array(ctx, &mut walk, 0, lines);
    } else if let Some(i) = json.iter().position(|&b| b == b'{' || b == b'[') {
        if json[i] == b'{' {
            object(ctx, &mut walk, i + 1, path);
        } else {
            array(ctx, &mut walk, i + 1, path);
        }
    }
    match walk.pipe {
        Some(pipe) => get(ctx, &walk.value.raw, pipe),
        None => walk.value,
    }
}

struct Selector<'p> {
    name: &'p [u8],
    path: &'p [u8],
}

/// Splits `[a,b]` or `{a,"n":b}` into its members; returns them and the path after the bracket.
fn sub_selectors(path: &[u8]) -> Option<(Vec<Selector<'_>>, &[u8])> {
    let mut selectors = Vec::new();
    let mut modifier = false;
    let mut depth = 1usize;
    let mut colon = None;
    let mut start = 1;
    let mut i = 1;
    while i < path.len() {
        let mut close = false;
        match path[i] {
            b'\\' => i += 1,
            b'@' if !modifier && matches!(path[i - 1], b'.' | b'|') => modifier = true,
            b':' if !modifier && colon.is_none() && depth == 1 => colon = Some(i),
            b',' if depth == 1 => close = true,
            b'"' => {
                i += 1;
                while i < path.len() {
                    if path[i] == b'\\' {
                        i += 1;
                    } else if path[i] == b'"' {
                        break;
                    }
                    i += 1;
                }
            }
            b'[' | b'(' | b'{' => depth += 1,
            b']' | b')' | b'}' => {
                depth -= 1;
                close = depth == 0;
            }
            _ => {}
        }
        if close {
            let end = i.min(path.len());
            selectors.push(match colon {
                None => Selector {
                    name: b"",
                    path: &path[start..end],
                },
                Some(c) => Selector {
                    name: &path[start..c],
                    path: &path[c + 1..end],
                },
            });
            colon = None;
            modifier = false;
            start = i + 1;
            if depth == 0 {
                return Some((selectors, &path[i + 1..]));
            }
        }
        i += 1;
    }
    None
}

/// The last component of a path, which names a multipath member that has no name.
fn name_of_last(path: &[u8]) -> &[u8] {
    for i in (0..path.len()).rev() {
        if matches!(path[i], b'|' | b'.') {
            if i > 0 && path[i - 1] == b'\\' {
                continue;
            }
            return &path[i + 1..];
        }
    }
    path
}

fn is_simple_name(component: &[u8]) -> bool {
    component.iter().all(|&b| {
        b >= b' '
            && !matches!(
                b,
                b'[' | b']' | b'{' | b'}' | b'(' | b')' | b'#' | b'|' | b'!'
            )
    })
}

fn multipath(
    ctx: &mut Ctx,
    json: &[u8],
    kind: u8,
    selectors: &[Selector<'_>],
    rest: &[u8],
) -> Value {
    let mut out = vec![kind];
    let mut count = 0;
    for sel in selectors {
        let res = get(ctx, json, sel.path);
        if !res.exists() {
            continue;
        }
        if count > 0 {
            out.push(b',');
        }
        if kind == b'{' {
            if !sel.name.is_empty() {
                if sel.name[0] == b'"' && valid::valid(sel.name) {
                    out.extend_from_slice(sel.name);
                } else {
                    scan::push_json_string(&mut out, sel.name);
                }
            } else {
                let last = name_of_last(sel.path);
                if is_simple_name(last) {
                    scan::push_json_string(&mut out, last);
                } else {
                    scan::push_json_string(&mut out, b"_");
                }
            }
            out.push(b':');
        }
        let before = out.len();
        if res.raw.is_empty() {
            let text = res.text();
            if text.is_empty() {
                out.extend_from_slice(b"null");
            } else {
                out.extend_from_slice(&text);
            }
        } else {
            out.extend_from_slice(&res.raw);
        }
        count += 1;
        if !ctx.charge(out.len() - before) {
            return Value::none();
        }
    }
    out.push(kind + 2);
    let res = Value::json(out);
    if rest.is_empty() {
        res
    } else {
        get(ctx, &res.raw, &rest[1..])
    }
}

/// `!true`, `!"text"`, `!{...}`, `!12`: a literal instead of a lookup. Returns the path after it
/// and the literal's JSON text.
fn exec_literal(path: &[u8]) -> Option<(&[u8], Vec<u8>)> {
    let mut name = &path[1..];
    if matches!(
        name.first(),
        Some(b'{' | b'[' | b'"' | b'+' | b'-' | b'0'..=b'9')
    ) {
        let (_, r) = scan::skip_block(name, 0);
        let len = r.len();
        return Some((&name[len..], name[r].to_vec()));
    }
    let mut rest: &[u8] = b"";
    if let Some(i) = path.iter().skip(1).position(|&b| b == b'|' || b == b'.') {
        rest = &path[i + 1..];
        name = &path[1..i + 1];
    }
    let lower = name.to_ascii_lowercase();
    matches!(
        lower.as_slice(),
        b"true" | b"false" | b"null" | b"nan" | b"inf"
    )
    .then(|| (rest, name.to_vec()))
}

/// `@name` or `@name:args`: runs the modifier on `json`. Returns the path after it and the
/// modifier's output; `None` when no modifier has that name (then it is an ordinary key).
fn exec_modifier<'p>(ctx: &mut Ctx, json: &[u8], path: &'p [u8]) -> Option<(&'p [u8], Vec<u8>)> {
    let mut name = &path[1..];
    let mut rest: &[u8] = b"";
    let mut has_args = false;
    for i in 1..path.len() {
        match path[i] {
            b':' => {
                rest = &path[i + 1..];
                name = &path[1..i];
                has_args = !rest.is_empty();
                break;
            }
            b'|' | b'.' => {
                rest = &path[i..];
                name = &path[1..i];
                break;
            }
            _ => {}
        }
    }
    let modifier = modifiers::Modifier::named(name)?;
    let mut args: &[u8] = b"";
    if has_args {
        let mut parsed = false;
        if matches!(rest[0], b'{' | b'[' | b'"') && parse(rest).exists() {
            args = scan::leading_block(rest);
            rest = &rest[args.len()..];
            parsed = true;
        }
        if !parsed {
            let mut i = 0;
            while i < rest.len() {
                if rest[i] == b'|' {
                    break;
                }
                if matches!(rest[i], b'{' | b'[' | b'"' | b'(') {
                    i += scan::leading_block(&rest[i..]).len() - 1;
                }
                i += 1;
            }
            args = &rest[..i];
            rest = &rest[i..];
        }
    }
    let out = modifier.apply(ctx, json, args);
    if !ctx.charge(out.len()) {
        return Some((b"", Vec::new()));
    }
    Some((rest, out))
}

/// Whether the component after a dot is a modifier or a multipath, which a dot then pipes into.
fn is_dot_piper(s: &[u8]) -> bool {
    match s.first() {
        Some(b'@') => {
            let end = s
                .iter()
                .skip(1)
                .position(|&b| matches!(b, b'.' | b'|' | b':'))
                .map_or(s.len(), |p| p + 1);
            modifiers::Modifier::named(&s[1..end]).is_some()
        }
        Some(b'[' | b'{') => true,
        _ => false,
    }
}

/// One component of a path read as an object key.
struct KeyPart<'p> {
    part: std::borrow::Cow<'p, [u8]>,
    rest: &'p [u8],
    pipe: &'p [u8],
    piped: bool,
    wild: bool,
    more: bool,
}

fn key_part(path: &[u8]) -> KeyPart<'_> {
    let mut r = KeyPart {
        part: path.into(),
        rest: b"",
        pipe: b"",
        piped: false,
        wild: false,
        more: false,
    };
    let mut i = 0;
    while i < path.len() {
        match path[i] {
            b'|' => {
                r.part = path[..i].into();
                r.pipe = &path[i + 1..];
                r.piped = true;
                return r;
            }
            b'.' => {
                r.part = path[..i].into();
                after_dot(&mut r, path, i);
                return r;
            }
            b'*' | b'?' => r.wild = true,
            b'\\' => {
                let mut part = path[..i].to_vec();
                i += 1;
                if i < path.len() {
                    part.push(path[i]);
                    i += 1;
                    while i < path.len() {
                        match path[i] {
                            b'\\' => {
                                i += 1;
                                if i < path.len() {
                                    part.push(path[i]);
                                }
                                i += 1;
                                continue;
                            }
                            b'.' => {
                                r.part = part.into();
                                after_dot(&mut r, path, i);
                                return r;
                            }
                            b'|' => {
                                r.part = part.into();
                                r.pipe = &path[i + 1..];
                                r.piped = true;
                                return r;
                            }
                            b'*' | b'?' => r.wild = true,
                            _ => {}
                        }
                        part.push(path[i]);
                        i += 1;
                    }
                }
                r.part = part.into();
                return r;
            }
            _ => {}
        }
        i += 1;
    }
    r
}

fn after_dot<'p>(r: &mut KeyPart<'p>, path: &'p [u8], dot: usize) {
    if dot < path.len() - 1 && is_dot_piper(&path[dot + 1..]) {
        r.pipe = &path[dot + 1..];
        r.piped = true;
    } else {
        r.rest = &path[dot + 1..];
        r.more = true;
    }
}

/// Walks an object's members from `i` (just after `{`) for the first component of `path`.
/// Returns where it stopped and whether the value was found.
fn object<'p>(ctx: &mut Ctx, w: &mut Walk<'_, 'p>, mut i: usize, path: &'p [u8]) -> (usize, bool) {
    if !ctx.enter() {
        return (w.json.len(), false);
    }
    let rp = key_part(path);
    if !rp.more && rp.piped {
        w.pipe = Some(rp.pipe);
    }
    let json = w.json;
    let n = json.len();
    let result = 'members: {
        while i < n {
            // The next key, or the end of the object.
            let mut key = None;
            while i < n {
                if json[i] == b'"' {
                    let start = i + 1;
                    match scan::string_end(json, start) {
                        Some((close, esc)) => {
                            key = Some((start..close, esc));
                            i = close + 1;
                        }
                        None => i = n,
                    }
                    break;
                }
                if json[i] == b'}' {
                    break 'members (i + 1, false);
                }
                i += 1;
            }
            let Some((range, esc)) = key else {
                break 'members (i, false);
            };
            let raw_key = &json[range];
            let decoded;
            let key_text: &[u8] = if esc {
                decoded = scan::unescape(raw_key);
                &decoded
            } else {
                raw_key
            };
            let pmatch = if rp.wild {
                glob::matches(ctx, key_text, &rp.part)
            } else {
                key_text == &rp.part[..]
            };
            let hit = pmatch && !rp.more;
            while i < n {
                let b = json[i];
                let number = match b {
                    b'"' => {
                        let (end, r, vesc, ok) = scan::read_string(json, i + 1);
                        i = end;
                        if !ok {
                            break 'members (i, false);
                        }
                        if hit {
                            w.value = Value::string(&json[r], vesc);
                            break 'members (i, true);
                        }
                        false
                    }
                    b'{' | b'[' => {
                        if pmatch && !hit {
                            let (end, found) = if b == b'{' {
                                object(ctx, w, i + 1, rp.rest)
                            } else {
                                array(ctx, w, i + 1, rp.rest)
                            };
                            i = end;
                            if found {
                                break 'members (i, true);
                            }
                        } else {
                            let (end, r) = scan::skip_block(json, i);
                            i = end;
                            if hit {
                                w.value = Value::json(json[r].to_vec());
                                break 'members (i, true);
                            }
                        }
                        false
                    }
                    b'n' if i + 1 < n && json[i + 1] != b'u' => true,
                    b'n' | b't' | b'f' => {
                        let (end, r) = scan::read_literal(json, i);
                        i = end;
                        if hit {
                            set_literal(&mut w.value, b, &json[r]);
                            break 'members (i, true);
                        }
                        false
                    }
                    b'+' | b'-' | b'0'..=b'9' | b'i' | b'I' | b'N' => true,
                    _ => {
                        i += 1;
                        continue;
                    }
                };
                if number {
                    let (end, r) = scan::read_number(json, i);
                    i = end;
                    if hit {
                        w.value = Value::number(&json[r]);
                        break 'members (i, true);
                    }
                }
                break;
            }
        }
        (i, false)
    };
    ctx.leave();
    result
}

/// gjson sets only the raw text and, for `true`/`false`, the kind of the value it already holds.
fn set_literal(v: &mut Value, first: u8, raw: &[u8]) {
    v.raw = raw.to_vec();
    match first {
        b't' => v.kind = Kind::True,
        b'f' => v.kind = Kind::False,
        _ => {}
    }
}

/// A `#(...)` query: the path inside, the operator and the value to compare with.
struct Query<'p> {
    on: bool,
    all: bool,
    path: &'p [u8],
    op: &'p [u8],
    value: Vec<u8>,
}

/// One component of a path read as an array step.
struct IndexPart<'p> {
    part: &'p [u8],
    rest: &'p [u8],
    pipe: &'p [u8],
    piped: bool,
    more: bool,
    project: bool,
    counted: bool,
    project_key: &'p [u8],
    query: Query<'p>,
}

fn index_part(path: &[u8]) -> IndexPart<'_> {
    let mut r = IndexPart {
        part: path,
        rest: b"",
        pipe: b"",
        piped: false,
        more: false,
        project: false,
        counted: false,
        project_key: b"",
        query: Query {
            on: false,
            all: false,
            path: b"",
            op: b"",
            value: Vec::new(),
        },
    };
    let mut i = 0;
    while i < path.len() {
        match path[i] {
            b'|' => {
                r.part = &path[..i];
                r.pipe = &path[i + 1..];
                r.piped = true;
                return r;
            }
            b'.' => {
                r.part = &path[..i];
                if !r.counted && i < path.len() - 1 && is_dot_piper(&path[i + 1..]) {
                    r.pipe = &path[i + 1..];
                    r.piped = true;
                } else {
                    r.rest = &path[i + 1..];
                    r.more = true;
                }
                return r;
            }
            b'#' => {
                r.counted = true;
                if i == 0 && path.len() > 1 {
                    if path[1] == b'.' {
                        r.project = true;
                        r.project_key = &path[2..];
                    } else if matches!(path[1], b'[' | b'(') {
                        r.query.on = true;
                        let Some(q) = parse_query(path) else {
                            break;
                        };
                        let mut value = q.value.to_vec();
                        if value.len() >= 2 && value[0] == b'"' && value[value.len() - 1] == b'"' {
                            value = value[1..value.len() - 1].to_vec();
                            if q.escaped {
                                value = scan::unescape(&value);
                            }
                        }
                        r.query.path = q.path;
                        r.query.op = q.op;
                        r.query.value = value;
                        i = q.end - 1;
                        if path.get(i + 1) == Some(&b'#') {
                            r.query.all = true;
                        }
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    r.part = path;
    r.rest = b"";
    r
}

struct ParsedQuery<'p> {
    path: &'p [u8],
    op: &'p [u8],
    value: &'p [u8],
    end: usize,
    escaped: bool,
}

/// Splits `#(path op value)` (or `#[...]`): `end` is the index after the closing bracket.
fn parse_query(q: &[u8]) -> Option<ParsedQuery<'_>> {
    if q.len() < 2 || q[0] != b'#' || !matches!(q[1], b'(' | b'[') {
        return None;
    }
    let mut i = 2;
    let mut value_at = 0;
    let mut depth = 1usize;
    let mut escaped = false;
    while i < q.len() {
        if depth == 1 && value_at == 0 && matches!(q[i], b'!' | b'=' | b'<' | b'>' | b'%') {
            value_at = i;
            i += 1;
            continue;
        }
        match q[i] {
            b'\\' => i += 1,
            b'[' | b'(' => depth += 1,
            b']' | b')' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            b'"' => {
                i += 1;
                while i < q.len() {
                    if q[i] == b'\\' {
                        escaped = true;
                        i += 1;
                    } else if q[i] == b'"' {
                        break;
                    }
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    if depth > 0 {
        return None;
    }
    let (path, op, value) = if value_at > 0 {
        let path = scan::trim(&q[2..value_at]);
        let mut value = scan::trim(&q[value_at..i]);
        let size = match value {
            [_] => 1,
            [b'!', b'=', ..] | [b'!', b'%', ..] | [b'<', b'=', ..] | [b'>', b'=', ..] => 2,
            [b'=', b'=', ..] => {
                value = &value[1..];
                1
            }
            [b'<' | b'>' | b'=' | b'%', ..] => 1,
            _ => 0,
        };
        (path, &value[..size], scan::trim(&value[size..]))
    } else {
        (scan::trim(&q[2..i]), &b""[..], &b""[..])
    };
    Some(ParsedQuery {
        path,
        op,
        value,
        end: i + 1,
        escaped,
    })
}

/// Splits a path at its first pipe that is not inside a query, for the part of a query's path
/// that follows it.
fn split_pipe(path: &[u8]) -> Option<(&[u8], &[u8])> {
    if !path.contains(&b'|') {
        return None;
    }
    if path[0] == b'{' {
        let block = scan::leading_block(&path[1..]);
        if block.len() < path.len() - 1 {
            let left = &path[..block.len() + 1];
            let rest = &path[left.len()..];
            if rest[0] == b'|' {
                return Some((left, &rest[1..]));
            }
        }
        return None;
    }
    let mut i = 0;
    while i < path.len() {
        match path[i] {
            b'\\' => i += 1,
            b'.' => {
                if i == path.len() - 1 {
                    return None;
                }
                if path[i + 1] == b'#' {
                    i += 2;
                    if i == path.len() {
                        return None;
                    }
                    if matches!(path[i], b'[' | b'(') {
                        let (open, close) = if path[i] == b'[' {
                            (b'[', b']')
                        } else {
                            (b'(', b')')
                        };
                        i += 1;
                        let mut depth = 1usize;
                        while i < path.len() {
                            let c = path[i];
                            if c == b'\\' {
                                i += 1;
                            } else if c == open {
                                depth += 1;
                            } else if c == close {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            } else if c == b'"' {
                                i += 1;
                                while i < path.len() {
                                    if path[i] == b'\\' {
                                        i += 1;
                                    } else if path[i] == b'"' {
                                        break;
                                    }
                                    i += 1;
                                }
                            }
                            i += 1;
                        }
                    }
                }
            }
            b'|' => return Some((&path[..i], &path[i + 1..])),
            _ => {}
        }
        i += 1;
    }
    None
}

fn query_matches(ctx: &mut Ctx, q: &Query<'_>, value: &Value) -> bool {
    let mut want: &[u8] = &q.value;
    let mut value = std::borrow::Cow::Borrowed(value);
    if let Some(ish) = want.strip_prefix(b"~") {
        let verdict = match ish {
            b"*" => Some(value.exists()),
            b"null" => Some(value.kind == Kind::Null),
            b"true" => Some(value.truthy_ish()),
            b"false" => Some(value.falsy_ish()),
            _ => None,
        };
        match verdict {
            Some(yes) => {
                want = b"true";
                let mut v = Value::none();
                v.kind = if yes { Kind::True } else { Kind::False };
                value = std::borrow::Cow::Owned(v);
            }
            None => {
                want = b"";
                value = std::borrow::Cow::Owned(Value::none());
            }
        }
    }
    if !value.exists() {
        return false;
    }
    if q.op.is_empty() {
        return true;
    }
    match value.kind {
        Kind::String => {
            let s = &value.str[..];
            match q.op {
                b"=" => s == want,
                b"!=" => s != want,
                b"<" => s < want,
                b"<=" => s <= want,
                b">" => s > want,
                b">=" => s >= want,
                b"%" => glob::matches(ctx, s, want),
                b"!%" => !glob::matches(ctx, s, want),
                _ => false,
            }
        }
        Kind::Number => {
            let n = value.num;
            let w = scan::parse_float(want);
            match q.op {
                b"=" => n == w,
                b"!=" => n != w,
                b"<" => n < w,
                b"<=" => n <= w,
                b">" => n > w,
                b">=" => n >= w,
                _ => false,
            }
        }
        Kind::True => match q.op {
            b"=" => want == b"true",
            b"!=" => want != b"true",
            b">" => want == b"false",
            b">=" => true,
            _ => false,
        },
        Kind::False => match q.op {
            b"=" => want == b"false",
            b"!=" => want != b"false",
            b"<" => want == b"true",
            b"<=" => true,
            _ => false,
        },
        _ => false,
    }
}

impl Value {
    fn truthy_ish(&self) -> bool {
        match self.kind {
            Kind::True => true,
            Kind::String => crate::value::go_bool(&self.str) == Some(true),
            Kind::Number => self.num != 0.0,
            _ => false,
        }
    }

    fn falsy_ish(&self) -> bool {
        match self.kind {
            Kind::Null | Kind::False => true,
            Kind::String => crate::value::go_bool(&self.str) == Some(false),
            Kind::Number => self.num == 0.0,
            _ => false,
        }
    }
}

/// The mutable part of an array walk that queries update.
struct Matches<'p> {
    collected: Vec<u8>,
    rest: &'p [u8],
}

fn query_element<'p>(
    ctx: &mut Ctx,
    w: &mut Walk<'_, 'p>,
    rp: &IndexPart<'p>,
    m: &mut Matches<'p>,
    element: Value,
) -> bool {
    if rp.query.all && m.collected.is_empty() {
        m.collected.push(b'[');
    }
    let probe = if element.kind == Kind::Json {
        get(ctx, &element.raw, rp.query.path)
    } else {
        if !rp.query.path.is_empty() {
            return false;
        }
        element.clone()
    };
    if !query_matches(ctx, &rp.query, &probe) {
        return false;
    }
    let res = if rp.more {
        if let Some((left, right)) = split_pipe(m.rest) {
            m.rest = left;
            w.pipe = Some(right);
        }
        get(ctx, &element.raw, m.rest)
    } else {
        element
    };
    if !rp.query.all {
        w.value = res;
        return true;
    }
    let raw = if res.raw.is_empty() {
        res.text()
    } else {
        res.raw
    };
    if !raw.is_empty() {
        if m.collected.len() > 1 {
            m.collected.push(b',');
        }
        m.collected.extend_from_slice(&raw);
    }
    ctx.charge(raw.len());
    false
}

/// Walks an array's elements from `i` (just after `[`, or 0 for JSON lines) for the first
/// component of `path`: an index, `#`, `#.path`, or a query.
fn array<'p>(ctx: &mut Ctx, w: &mut Walk<'_, 'p>, i: usize, path: &'p [u8]) -> (usize, bool) {
    if !ctx.enter() {
        return (w.json.len() + 1, false);
    }
    let r = array_inner(ctx, w, i, path);
    ctx.leave();
    r
}

fn array_inner<'p>(
    ctx: &mut Ctx,
    w: &mut Walk<'_, 'p>,
    mut i: usize,
    path: &'p [u8],
) -> (usize, bool) {
    let rp = index_part(path);
    let wanted: i64 = if rp.counted {
        0
    } else {
        scan::parse_uint(rp.part).map_or(-1, |n| n as i64)
    };
    if !rp.more && rp.piped {
        w.pipe = Some(rp.pipe);
    }
    let json = w.json;
    let n = json.len();
    let mut m = Matches {
        collected: Vec::new(),
        rest: rp.rest,
    };
    let mut project_key = rp.project_key;
    let mut starts = Vec::new();
    let mut h: i64 = 0;
    let mut pmatch = false;
    let mut hit = false;
    while i < n + 1 {
        if !rp.counted {
            pmatch = wanted == h;
            hit = pmatch && !rp.more;
        }
        h += 1;
        if rp.project {
            starts.push(i);
        }
        loop {
            if ctx.failed() {
                return (n + 1, false);
            }
            if i > n {
                break;
            }
            let b = if i == n { b']' } else { json[i] };
            let number = match b {
                b'"' => {
                    let (end, r, esc, ok) = scan::read_string(json, i + 1);
                    i = end;
                    if !ok {
                        return (i, false);
                    }
                    if rp.query.on {
                        if query_element(ctx, w, &rp, &mut m, Value::string(&json[r], esc)) {
                            return (i, true);
                        }
                    } else if hit {
                        w.value = Value::string(&json[r], esc);
                        return (i, true);
                    }
                    false
                }
                b'{' | b'[' => {
                    if pmatch && !hit {
                        let (end, found) = if b == b'{' {
                            object(ctx, w, i + 1, rp.rest)
                        } else {
                            array(ctx, w, i + 1, rp.rest)
                        };
                        i = end;
                        hit = found;
                        if found {
                            return (i, true);
                        }
                    } else {
                        let (end, r) = scan::skip_block(json, i);
                        i = end;
                        if rp.query.on {
                            if query_element(ctx, w, &rp, &mut m, Value::json(json[r].to_vec())) {
                                return (i, true);
                            }
                        } else if hit {
                            w.value = Value::json(json[r].to_vec());
                            return (i, true);
                        }
                    }
                    false
                }
                b'n' if i + 1 < n && json[i + 1] != b'u' => true,
                b'n' | b't' | b'f' => {
                    let (end, r) = scan::read_literal(json, i);
                    i = end;
                    if rp.query.on {
                        if query_element(ctx, w, &rp, &mut m, Value::literal(b, &json[r])) {
                            return (i, true);
                        }
                    } else if hit {
                        set_literal(&mut w.value, b, &json[r]);
                        return (i, true);
                    }
                    false
                }
                b'+' | b'-' | b'0'..=b'9' | b'i' | b'I' | b'N' => true,
                b']' => {
                    if rp.counted && rp.part == b"#" {
                        if rp.project {
                            if let Some((left, right)) = split_pipe(project_key) {
                                project_key = left;
                                w.pipe = Some(right);
                            }
                            w.value = project(ctx, json, &starts, project_key);
                            return (i + 1, true);
                        }
                        let count = (h - 1).to_string();
                        w.value = Value::number(count.as_bytes());
                        return (i + 1, true);
                    }
                    if !w.value.exists() {
                        if !m.collected.is_empty() {
                            m.collected.push(b']');
                            w.value = Value::json(std::mem::take(&mut m.collected));
                        } else if rp.query.all {
                            w.value = Value::json(b"[]".to_vec());
                        }
                    }
                    return (i + 1, false);
                }
                _ => {
                    i += 1;
                    continue;
                }
            };
            if number {
                let (end, r) = scan::read_number(json, i);
                i = end;
                if rp.query.on {
                    if query_element(ctx, w, &rp, &mut m, Value::number(&json[r])) {
                        return (i, true);
                    }
                } else if hit {
                    w.value = Value::number(&json[r]);
                    return (i, true);
                }
            }
            break;
        }
    }
    (i, false)
}

/// `#.path`: the path applied to each element (found from where each element's scan started).
fn project(ctx: &mut Ctx, json: &[u8], starts: &[usize], key: &[u8]) -> Value {
    let mut out = vec![b'['];
    let mut count = 0;
    for &start in starts {
        let mut at = start;
        while at < json.len() && matches!(json[at], b' ' | b'\t' | b'\r' | b'\n') {
            at += 1;
        }
        if at >= json.len() || json[at] == b']' {
            continue;
        }
        let (_, element, ok) = parse_any(json, at);
        if !ok {
            continue;
        }
        let res = get(ctx, &element.raw, key);
        if !res.exists() {
            continue;
        }
        if count > 0 {
            out.push(b',');
        }
        if res.raw.is_empty() {
            out.extend_from_slice(&res.text());
        } else {
            out.extend_from_slice(&res.raw);
        }
        count += 1;
        if !ctx.charge(res.raw.len()) {
            return Value::none();
        }
    }
    out.push(b']');
    Value::json(out)
}
