//! tidwall/pretty as gjson's `@pretty` and `@ugly` use it: re-indenting JSON text without
//! validating it (what is not JSON is passed through or skipped the way that package does).

use crate::Ctx;
use crate::scan;

/// Layout options of `@pretty`.
pub(crate) struct Options {
    /// Arrays that fit in this many columns stay on one line; 0 or less turns that off.
    pub(crate) width: i64,
    pub(crate) prefix: Vec<u8>,
    pub(crate) indent: Vec<u8>,
    pub(crate) sort_keys: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            width: 80,
            prefix: Vec::new(),
            indent: b"  ".to_vec(),
            sort_keys: false,
        }
    }
}

struct Printer<'a, 'c> {
    ctx: &'c mut Ctx,
    json: &'a [u8],
    width: i64,
    prefix: &'a [u8],
}

/// A rendered member of an object being sorted: the key in the input and the member in the output.
#[derive(Clone, Copy)]
struct Member {
    key: (usize, usize),
    out: (usize, usize),
}

/// Where a step stopped in the input, the output length at the last line break, and whether the
/// step can stay on one line (false aborts a one-line attempt).
type Step = (usize, usize, bool);

pub(crate) fn pretty(ctx: &mut Ctx, json: &[u8], opts: &Options) -> Vec<u8> {
    let mut out = opts.prefix.clone();
    let mut p = Printer {
        ctx,
        json,
        width: opts.width,
        prefix: &opts.prefix,
    };
    p.any(&mut out, 0, true, &opts.indent, opts.sort_keys, 0, 0, -1);
    if !out.is_empty() {
        out.push(b'\n');
    }
    out
}

impl Printer<'_, '_> {
    #[allow(clippy::too_many_arguments)]
    fn any(
        &mut self,
        out: &mut Vec<u8>,
        mut i: usize,
        pretty: bool,
        indent: &[u8],
        sort: bool,
        tabs: usize,
        nl: usize,
        max: i64,
    ) -> Step {
        let json = self.json;
        while i < json.len() {
            let b = json[i];
            if b <= b' ' {
                i += 1;
                continue;
            }
            if b == b'"' {
                return self.string(out, i, nl);
            }
            let nan_or_inf = matches!(b, b'i' | b'I' | b'+' | b'N')
                || (b == b'n' && json.get(i + 1).is_some_and(|&c| c != b'u'));
            if b.is_ascii_digit() || b == b'-' || nan_or_inf {
                let start = i;
                i += 1;
                while i < json.len()
                    && !(json[i] <= b' ' || matches!(json[i], b',' | b':' | b']' | b'}'))
                {
                    i += 1;
                }
                out.extend_from_slice(&json[start..i]);
                return (i, nl, true);
            }
            match b {
                b'{' => {
                    return self.container(out, i, b'{', b'}', pretty, indent, sort, tabs, nl, max);
                }
                b'[' => {
                    return self.container(out, i, b'[', b']', pretty, indent, sort, tabs, nl, max);
                }
                b't' => {
                    out.extend_from_slice(b"true");
                    return (i + 4, nl, true);
                }
                b'f' => {
                    out.extend_from_slice(b"false");
                    return (i + 5, nl, true);
                }
                b'n' => {
                    out.extend_from_slice(b"null");
                    return (i + 4, nl, true);
                }
                _ => i += 1,
            }
        }
        (i, nl, true)
    }

    fn string(&mut self, out: &mut Vec<u8>, start: usize, nl: usize) -> Step {
        let json = self.json;
        let end = scan::string_end(json, start + 1).map_or(json.len(), |(close, _)| close + 1);
        out.extend_from_slice(&json[start..end]);
        (end, nl, true)
    }

    fn line_break(out: &mut Vec<u8>) -> usize {
        let nl = out.len();
        if out.last() == Some(&b' ') {
            if let Some(last) = out.last_mut() {
                *last = b'\n';
            }
        } else {
            out.push(b'\n');
        }
        nl
    }

    fn tabs(&mut self, out: &mut Vec<u8>, indent: &[u8], tabs: usize) {
        // Indentation is what can make the output much larger than the input: pay for it first.
        if !self.ctx.charge(self.prefix.len() + indent.len() * tabs) {
            return;
        }
        out.extend_from_slice(self.prefix);
        for _ in 0..tabs {
            out.extend_from_slice(indent);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn container(
        &mut self,
        out: &mut Vec<u8>,
        mut i: usize,
        open: u8,
        close: u8,
        pretty: bool,
        indent: &[u8],
        mut sort: bool,
        tabs: usize,
        mut nl: usize,
        max: i64,
    ) -> Step {
        if !self.ctx.enter() || !self.ctx.charge(1) {
            return (self.json.len(), nl, false);
        }
        let result = 'body: {
            if self.width > 0 {
                if pretty && open == b'[' && max == -1 {
                    let room = self.width - (out.len() - nl) as i64;
                    if room > 3 {
                        let (mark, at) = (out.len(), i);
                        let (end, _, ok) =
                            self.container(out, i, b'[', b']', false, b"", sort, 0, 0, room);
                        if ok && (out.len() - mark) as i64 <= room {
                            break 'body (end, nl, true);
                        }
                        out.truncate(mark);
                        i = at;
                    }
                } else if max != -1 && open == b'{' {
                    break 'body (i, nl, false);
                }
            }
            out.push(open);
            i += 1;
            let mut members: Vec<Member> = Vec::new();
            let mut count = 0usize;
            let json = self.json;
            while i < json.len() {
                if self.ctx.failed() {
                    break 'body (json.len(), nl, false);
                }
                if json[i] <= b' ' {
                    i += 1;
                    continue;
                }
                if json[i] == close {
                    if pretty {
                        if open == b'{' && sort {
                            sort_members(json, out, &mut members);
                        }
                        if count > 0 {
                            nl = Self::line_break(out);
                        }
                        if out.last() != Some(&open) {
                            self.tabs(out, indent, tabs);
                        }
                    }
                    out.push(close);
                    break 'body (i + 1, nl, open != b'{');
                }
                if open == b'[' || json[i] == b'"' {
                    if count > 0 {
                        out.push(b',');
                        if self.width != -1 && open == b'[' {
                            out.push(b' ');
                        }
                    }
                    let mut member = Member {
                        key: (0, 0),
                        out: (0, 0),
                    };
                    if pretty {
                        nl = Self::line_break(out);
                        if open == b'{' && sort {
                            member.key.0 = i;
                            member.out.0 = out.len();
                        }
                        self.tabs(out, indent, tabs + 1);
                    }
                    if open == b'{' {
                        let (end, n2, _) = self.string(out, i, nl);
                        i = end;
                        nl = n2;
                        if sort {
                            member.key.1 = i;
                        }
                        out.push(b':');
                        if pretty {
                            out.push(b' ');
                        }
                    }
                    let (end, n2, ok) = self.any(out, i, pretty, indent, sort, tabs + 1, nl, max);
                    i = end;
                    nl = n2;
                    if max != -1 && !ok {
                        break 'body (i, nl, false);
                    }
                    if pretty && open == b'{' && sort {
                        member.out.1 = out.len();
                        if member.key.0 > member.key.1 || member.out.0 > member.out.1 {
                            sort = false;
                        } else {
                            members.push(member);
                        }
                    }
                    i -= 1;
                    count += 1;
                }
                i += 1;
            }
            (i, nl, open != b'{')
        };
        self.ctx.leave();
        result
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Type {
    Null,
    False,
    Number,
    String,
    True,
    Json,
}

fn type_of(v: &[u8]) -> Type {
    match v.first() {
        None | Some(b'n') => Type::Null,
        Some(b'"') => Type::String,
        Some(b'f') => Type::False,
        Some(b't') => Type::True,
        Some(b'[' | b'{') => Type::Json,
        Some(_) => Type::Number,
    }
}

/// A key's or value's text as the sort compares it: a string's content (decoded as Go's
/// `encoding/json` does when it has escapes), else the text.
fn string_content(s: &[u8]) -> Vec<u8> {
    for i in 1..s.len() {
        if s[i] == b'\\' {
            return go_json_unquote(s).unwrap_or_default();
        }
        if s[i] == b'"' {
            return s[1..i].to_vec();
        }
    }
    Vec::new()
}

/// Go's `json.Unmarshal` of a JSON string into a Go string.
fn go_json_unquote(s: &[u8]) -> Option<Vec<u8>> {
    let t = scan::trim(s);
    if !crate::valid::valid(t) || t.first() != Some(&b'"') {
        return None;
    }
    let body = &t[1..t.len() - 1];
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    let hex = |b: &[u8]| -> u32 {
        b.iter()
            .fold(0, |n, &d| n * 16 + char::from(d).to_digit(16).unwrap_or(0))
    };
    while i < body.len() {
        match body[i] {
            b'\\' => {
                let e = body[i + 1];
                i += 2;
                let plain = match e {
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'u' => {
                        let mut r = hex(&body[i..i + 4]);
                        i += 4;
                        if (0xD800..0xDC00).contains(&r)
                            && body.get(i..i + 2) == Some(b"\\u")
                            && let Some(low) = body.get(i + 2..i + 6).map(hex)
                            && (0xDC00..0xE000).contains(&low)
                        {
                            r = 0x10000 + ((r - 0xD800) << 10) + (low - 0xDC00);
                            i += 6;
                        }
                        scan::push_rune(&mut out, r);
                        continue;
                    }
                    other => other,
                };
                out.push(plain);
            }
            b if b < 0x80 => {
                out.push(b);
                i += 1;
            }
            _ => {
                let (r, n) = scan::decode_rune(&body[i..]);
                scan::push_rune(&mut out, r);
                i += n;
            }
        }
    }
    Some(out)
}

fn trim_space(s: &[u8]) -> &[u8] {
    scan::trim_unicode_space(s)
}

fn member_less(json: &[u8], out: &[u8], a: &Member, b: &Member, by_value: bool) -> bool {
    let k1 = &json[a.key.0..a.key.1];
    let k2 = &json[b.key.0..b.key.1];
    let (v1, v2) = if by_value {
        let mut v1 = trim_space(&out[a.out.0..a.out.1]);
        let mut v2 = trim_space(&out[b.out.0..b.out.1]);
        if v1.len() > k1.len() {
            v1 = trim_space(&v1[k1.len() + 1..]);
        }
        if v2.len() > k2.len() {
            v2 = trim_space(&v2[k2.len() + 1..]);
        }
        (v1, v2)
    } else {
        (k1, k2)
    };
    let (t1, t2) = (type_of(v1), type_of(v2));
    if t1 != t2 {
        return t1 < t2;
    }
    match t1 {
        Type::String => string_content(v1) < string_content(v2),
        Type::Number => scan::parse_float(v1) < scan::parse_float(v2),
        _ => v1 < v2,
    }
}

fn sort_members(json: &[u8], out: &mut Vec<u8>, members: &mut [Member]) {
    let (Some(first), Some(last)) = (members.first(), members.last()) else {
        return;
    };
    let (start, end) = (first.out.0, last.out.1);
    let less = |a: &Member, b: &Member| {
        member_less(json, out, a, b, false)
            || (!member_less(json, out, b, a, false) && member_less(json, out, a, b, true))
    };
    let mut order: Vec<usize> = (0..members.len()).collect();
    order.sort_by(|&x, &y| {
        if less(&members[x], &members[y]) {
            std::cmp::Ordering::Less
        } else if less(&members[y], &members[x]) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
    if order.iter().enumerate().all(|(k, &x)| k == x) {
        return;
    }
    let mut sorted = Vec::with_capacity(end - start);
    for (k, &x) in order.iter().enumerate() {
        let m = members[x];
        sorted.extend_from_slice(&out[m.out.0..m.out.1]);
        if k + 1 < order.len() {
            sorted.extend_from_slice(b",\n");
        }
    }
    out.truncate(start);
    out.extend_from_slice(&sorted);
}

/// tidwall/pretty's `Ugly`: every byte up to the space dropped outside strings.
pub(crate) fn ugly(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len());
    let mut i = 0;
    while i < src.len() {
        let b = src[i];
        if b > b' ' {
            out.push(b);
            if b == b'"' {
                i += 1;
                let mut run = 0usize;
                while i < src.len() {
                    let c = src[i];
                    out.push(c);
                    if c == b'"' && run.is_multiple_of(2) {
                        break;
                    }
                    run = if c == b'\\' { run + 1 } else { 0 };
                    i += 1;
                }
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(json: &str, opts: &Options) -> String {
        String::from_utf8(pretty(&mut Ctx::new(), json.as_bytes(), opts)).unwrap()
    }

    #[test]
    fn pretty_layout() {
        let d = Options::default();
        assert_eq!(
            p(r#"{"a":1,"b":[1,2],"c":{}}"#, &d),
            "{\n  \"a\": 1,\n  \"b\": [1, 2],\n  \"c\": {}\n}\n"
        );
        assert_eq!(p(r#"[{"a":1}]"#, &d), "[\n  {\n    \"a\": 1\n  }\n]\n");
        let sorted = Options {
            sort_keys: true,
            ..Options::default()
        };
        assert_eq!(
            p(r#"{"b":1,"a":2}"#, &sorted),
            "{\n  \"a\": 2,\n  \"b\": 1\n}\n"
        );
        let narrow = Options {
            width: 5,
            ..Options::default()
        };
        assert_eq!(p("[1,2,3]", &narrow), "[\n  1,\n  2,\n  3\n]\n");
    }

    #[test]
    fn ugly_keeps_strings() {
        assert_eq!(
            ugly(b"{ \"a b\" : [ 1 , \"x\\\" y\" ] }"),
            b"{\"a b\":[1,\"x\\\" y\"]}".to_vec()
        );
    }
}
