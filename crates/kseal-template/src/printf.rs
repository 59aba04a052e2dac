//! The subset of Go's `fmt` that templates use: `print`, `println`, `printf` and `%q`-style quoting.
//!
//! Unlike Go, a verb that does not fit its argument (`%d` of a string), a missing argument or an extra one is
//! an error: Go would write `%!d(string=<the value>)` into the output, echoing a possibly secret value.
//! A format string computed from data may itself be secret: messages then say `a verb of the format
//! (computed from data)`, neither its text nor its position.

use zeroize::Zeroizing;

use crate::value::{FuncError, Value, push_capped};

/// Go's `fmt.Sprint` (`newline = false`: spaces only between two non-string operands) or `fmt.Sprintln`,
/// at most `cap` bytes.
pub(crate) fn sprint(
    args: &[Value],
    newline: bool,
    cap: usize,
) -> Result<Zeroizing<Vec<u8>>, FuncError> {
    let mut out = Zeroizing::new(Vec::new());
    let is_string = |v: &Value| matches!(v, Value::Str(_) | Value::Bytes(_));
    for (i, arg) in args.iter().enumerate() {
        if i > 0 && (newline || (!is_string(arg) && !is_string(&args[i - 1]))) {
            push_capped(&mut out, b" ", cap)?;
        }
        arg.write_to(&mut out, cap)?;
    }
    if newline {
        push_capped(&mut out, b"\n", cap)?;
    }
    Ok(out)
}

/// Formatting flags of one directive, as Go's `fmt` keeps them.
#[derive(Default, Clone, Copy)]
struct Flags {
    minus: bool,
    plus: bool,
    space: bool,
    zero: bool,
    sharp: bool,
    sharp_v: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

/// Go's `fmt.Sprintf`, at most `cap` bytes: every verb and flag Go has for strings, integers, floats,
/// bools, lists and maps, argument indexes (`%[2]s`), `*` widths and precisions, and Go's in-band
/// reports written into the output like Go does (`%!d(string=…)`, `%!s(MISSING)`, `%!(EXTRA …)`,
/// `%!(NOVERB)`, `%!(BADINDEX)`): those show what the template asked to print, which is output, never
/// an error message. Only `%p` (a memory address in Go) is refused (with an error naming the verb when the
/// format is a literal of the template).
pub(crate) fn printf(
    format: &str,
    literal: bool,
    args: &[Value],
    cap: usize,
) -> Result<Zeroizing<Vec<u8>>, FuncError> {
    let mut p = Printer {
        out: Zeroizing::new(Vec::new()),
        cap,
        f: Flags::default(),
    };
    let fmt = format.as_bytes();
    let end = fmt.len();
    let mut arg_num = 0usize;
    let mut reordered = false;
    let mut i = 0;
    let verb_name = |verb: char| {
        if literal {
            format!("verb %{verb}")
        } else {
            "a verb of the format (computed from data)".to_owned()
        }
    };
    while i < end {
        let mut good_arg_num = true;
        let last = i;
        while i < end && fmt[i] != b'%' {
            i += 1;
        }
        if i > last {
            p.write(&fmt[last..i])?;
        }
        if i >= end {
            break;
        }
        i += 1;
        p.f = Flags::default();
        while i < end {
            match fmt[i] {
                b'#' => p.f.sharp = true,
                b'0' => p.f.zero = !p.f.minus,
                b'+' => p.f.plus = true,
                b'-' => {
                    p.f.minus = true;
                    p.f.zero = false;
                }
                b' ' => p.f.space = true,
                _ => break,
            }
            i += 1;
        }
        let mut after_index;
        (arg_num, i, after_index) = arg_number(
            arg_num,
            fmt,
            i,
            args.len(),
            &mut reordered,
            &mut good_arg_num,
        );
        if i < end && fmt[i] == b'*' {
            i += 1;
            let (w, ok, next) = int_from_arg(args, arg_num);
            arg_num = next;
            if !ok {
                p.write(b"%!(BADWIDTH)")?;
            } else if w < 0 {
                p.f.width = Some(w.unsigned_abs() as usize);
                p.f.minus = true;
                p.f.zero = false;
            } else {
                p.f.width = Some(w as usize);
            }
            after_index = false;
        } else {
            let (w, present, next) = parse_num(fmt, i, end);
            i = next;
            if present {
                p.f.width = Some(w);
                if after_index {
                    good_arg_num = false;
                }
            }
        }
        if i + 1 < end && fmt[i] == b'.' {
            i += 1;
            if after_index {
                good_arg_num = false;
            }
            (arg_num, i, after_index) = arg_number(
                arg_num,
                fmt,
                i,
                args.len(),
                &mut reordered,
                &mut good_arg_num,
            );
            if i < end && fmt[i] == b'*' {
                i += 1;
                let (prec, ok, next) = int_from_arg(args, arg_num);
                arg_num = next;
                if prec < 0 || !ok {
                    p.f.precision = None;
                    if !ok {
                        p.write(b"%!(BADPREC)")?;
                    }
                } else {
                    p.f.precision = Some(prec as usize);
                }
                after_index = false;
            } else {
                let (prec, _, next) = parse_num(fmt, i, end);
                i = next;
                p.f.precision = Some(prec);
            }
        }
        if !after_index {
            (arg_num, i, _) = arg_number(
                arg_num,
                fmt,
                i,
                args.len(),
                &mut reordered,
                &mut good_arg_num,
            );
        }
        if i >= end {
            p.write(b"%!(NOVERB)")?;
            break;
        }
        let (verb, size) = match std::str::from_utf8(&fmt[i..])
            .ok()
            .and_then(|s| s.chars().next())
        {
            Some(c) => (c, c.len_utf8()),
            None => {
                let tail = String::from_utf8_lossy(&fmt[i..]);
                let c = tail.chars().next().unwrap_or('\u{FFFD}');
                (c, 1)
            }
        };
        i += size;
        if verb == '%' {
            p.write(b"%")?;
        } else if !good_arg_num {
            p.write(format!("%!{verb}(BADINDEX)").as_bytes())?;
        } else if arg_num >= args.len() {
            p.write(format!("%!{verb}(MISSING)").as_bytes())?;
        } else {
            if verb == 'v' {
                p.f.sharp_v = p.f.sharp;
                p.f.sharp = false;
                p.f.plus = false;
            }
            if verb == 'p' {
                return Err(FuncError::Invalid(format!(
                    "{} is not supported for this value",
                    verb_name(verb)
                )));
            }
            p.arg(&args[arg_num], verb, 0)?;
            arg_num += 1;
        }
    }
    if !reordered && arg_num < args.len() {
        p.f = Flags::default();
        p.write(b"%!(EXTRA ")?;
        for (k, arg) in args[arg_num..].iter().enumerate() {
            if k > 0 {
                p.write(b", ")?;
            }
            if matches!(arg, Value::Nil) {
                p.write(b"<nil>")?;
            } else {
                p.write(crate::value::go_type(arg).as_bytes())?;
                p.write(b"=")?;
                p.arg(arg, 'v', 0)?;
            }
        }
        p.write(b")")?;
    }
    Ok(p.out)
}

fn too_large(n: i64) -> bool {
    !(-1_000_000..=1_000_000).contains(&n)
}

/// Go's `parsenum`: digits at `start`, the number, whether there were any, and where they end.
fn parse_num(s: &[u8], start: usize, end: usize) -> (usize, bool, usize) {
    let mut n: i64 = 0;
    let mut i = start;
    let mut any = false;
    while i < end && s[i].is_ascii_digit() {
        if too_large(n) {
            return (0, false, end);
        }
        n = n * 10 + i64::from(s[i] - b'0');
        any = true;
        i += 1;
    }
    (n as usize, any, i)
}

/// Go's `argNumber`: an `[n]` index at `i`.
fn arg_number(
    arg_num: usize,
    s: &[u8],
    i: usize,
    num_args: usize,
    reordered: &mut bool,
    good: &mut bool,
) -> (usize, usize, bool) {
    if s.len() <= i || s[i] != b'[' {
        return (arg_num, i, false);
    }
    *reordered = true;
    let rest = &s[i..];
    let (index, width, ok) = 'parse: {
        if rest.len() < 3 {
            break 'parse (0, 1, false);
        }
        for j in 1..rest.len() {
            if rest[j] == b']' {
                let (n, ok, next) = parse_num(rest, 1, j);
                if !ok || next != j {
                    break 'parse (0, j + 1, false);
                }
                break 'parse (n as i64 - 1, j + 1, true);
            }
        }
        (0, 1, false)
    };
    if ok && index >= 0 && (index as usize) < num_args {
        return (index as usize, i + width, true);
    }
    *good = false;
    (arg_num, i + width, ok)
}

/// Go's `intFromArg`: an integer argument for `*`.
fn int_from_arg(args: &[Value], arg_num: usize) -> (i64, bool, usize) {
    if arg_num >= args.len() {
        return (0, false, arg_num);
    }
    match args[arg_num] {
        Value::Int(n) if !too_large(n) => (n, true, arg_num + 1),
        _ => (0, false, arg_num + 1),
    }
}

struct Printer {
    out: Zeroizing<Vec<u8>>,
    cap: usize,
    f: Flags,
}

impl Printer {
    fn write(&mut self, b: &[u8]) -> Result<(), FuncError> {
        Ok(push_capped(&mut self.out, b, self.cap)?)
    }

    fn padding(&mut self, n: usize) -> Result<(), FuncError> {
        if self.out.len().saturating_add(n) > self.cap {
            return Err(FuncError::TooLarge);
        }
        let byte = if self.f.zero && !self.f.minus {
            b'0'
        } else {
            b' '
        };
        let len = self.out.len();
        self.out.resize(len + n, byte);
        Ok(())
    }

    /// Go's `fmt.pad`: `b` padded to the width with spaces (or zeros), counted in characters.
    fn pad(&mut self, b: &[u8]) -> Result<(), FuncError> {
        let Some(width) = self.f.width.filter(|w| *w > 0) else {
            return self.write(b);
        };
        let fill = width.saturating_sub(rune_count(b));
        if self.f.minus {
            self.write(b)?;
            self.padding(fill)
        } else {
            self.padding(fill)?;
            self.write(b)
        }
    }

    fn bad_verb(&mut self, verb: char, arg: &Value, depth: usize) -> Result<(), FuncError> {
        self.write(format!("%!{verb}(").as_bytes())?;
        if matches!(arg, Value::Nil) {
            self.write(b"<nil>")?;
        } else {
            self.write(crate::value::go_type(arg).as_bytes())?;
            self.write(b"=")?;
            self.arg(arg, 'v', depth)?;
        }
        self.write(b")")
    }

    fn arg(&mut self, arg: &Value, verb: char, depth: usize) -> Result<(), FuncError> {
        if verb == 'T' {
            let t = crate::value::go_type(arg);
            return self.string(t.as_bytes(), 's');
        }
        match arg {
            Value::Nil => {
                if depth > 0 && self.f.sharp_v {
                    return self.write(b"interface {}(nil)");
                }
                match verb {
                    'v' => self.pad(b"<nil>"),
                    _ if depth > 0 => self.pad(b"<nil>"),
                    _ => self.bad_verb(verb, arg, depth),
                }
            }
            Value::Bool(b) => match verb {
                't' | 'v' => self.pad(if *b { b"true" } else { b"false" }),
                _ => self.bad_verb(verb, arg, depth),
            },
            Value::Int(n) | Value::Int64(n) => self.integer(*n, verb, arg, depth),
            Value::Float(x) => self.float(*x, verb, arg, depth),
            Value::Str(_) | Value::Bytes(_) => {
                let bytes = arg.as_bytes()?;
                match verb {
                    'v' if self.f.sharp_v => self.quoted(bytes),
                    'v' | 's' | 'x' | 'X' | 'q' => self.string(bytes, verb),
                    _ => self.bad_verb(verb, arg, depth),
                }
            }
            Value::List(items) => {
                if self.f.sharp_v {
                    self.write(b"[]interface {}{")?;
                    for (k, item) in items.iter().enumerate() {
                        if k > 0 {
                            self.write(b", ")?;
                        }
                        self.arg(item, verb, depth + 1)?;
                    }
                    return self.write(b"}");
                }
                self.write(b"[")?;
                for (k, item) in items.iter().enumerate() {
                    if k > 0 {
                        self.write(b" ")?;
                    }
                    self.arg(item, verb, depth + 1)?;
                }
                self.write(b"]")
            }
            // Go's %v of a struct: its fields' values in braces.
            Value::Cert(c) => {
                self.write(b"{")?;
                self.arg(&Value::str(c.cert.as_str()), verb, depth + 1)?;
                self.write(b" ")?;
                self.arg(&Value::str(c.key.as_str()), verb, depth + 1)?;
                self.write(b"}")
            }
            Value::Map(map) => {
                self.write(if self.f.sharp_v {
                    b"map[string]interface {}{".as_slice()
                } else {
                    b"map[".as_slice()
                })?;
                for (k, (key, value)) in map.iter().enumerate() {
                    if k > 0 {
                        self.write(if self.f.sharp_v {
                            b", ".as_slice()
                        } else {
                            b" ".as_slice()
                        })?;
                    }
                    self.arg(&Value::str(key.as_str()), verb, depth + 1)?;
                    self.write(b":")?;
                    self.arg(value, verb, depth + 1)?;
                }
                self.write(if self.f.sharp_v { b"}" } else { b"]" })
            }
            // Go's fmt calls the String method for the string verbs.
            Value::Time(_) | Value::Semver(_) => {
                let text = match arg {
                    Value::Time(t) => t.go_string(),
                    Value::Semver(v) => v.text(),
                    _ => String::new(),
                };
                match verb {
                    'v' | 's' | 'x' | 'X' | 'q' => self.string(text.as_bytes(), verb),
                    _ => self.bad_verb(verb, arg, depth),
                }
            }
        }
    }

    fn string(&mut self, s: &[u8], verb: char) -> Result<(), FuncError> {
        match verb {
            'x' | 'X' => self.hex_string(s, verb == 'X'),
            'q' => self.quoted(s),
            _ => {
                let s = truncate_runes(s, self.f.precision);
                self.pad(s)
            }
        }
    }

    fn quoted(&mut self, s: &[u8]) -> Result<(), FuncError> {
        let s = truncate_runes(s, self.f.precision);
        if self.f.sharp
            && let Ok(text) = std::str::from_utf8(s)
            && can_backquote(text)
        {
            return self.pad(format!("`{text}`").as_bytes());
        }
        let q = if self.f.plus {
            go_quote_ascii(s)
        } else {
            go_quote(s)
        };
        self.pad(q.as_bytes())
    }

    fn hex_string(&mut self, s: &[u8], upper: bool) -> Result<(), FuncError> {
        let digits: &[u8; 16] = if upper {
            b"0123456789ABCDEF"
        } else {
            b"0123456789abcdef"
        };
        let x = if upper { b'X' } else { b'x' };
        let length = self.f.precision.map_or(s.len(), |p| p.min(s.len()));
        let mut width = 2 * length;
        if width > 0 {
            if self.f.space {
                if self.f.sharp {
                    width *= 2;
                }
                width += length - 1;
            } else if self.f.sharp {
                width += 2;
            }
        } else {
            if let Some(w) = self.f.width {
                self.padding(w)?;
            }
            return Ok(());
        }
        if self.out.len().saturating_add(width) > self.cap {
            return Err(FuncError::TooLarge);
        }
        let w = self.f.width.unwrap_or(0);
        if w > width && !self.f.minus {
            self.padding(w - width)?;
        }
        let mut buf = Vec::with_capacity(width);
        if self.f.sharp {
            buf.extend_from_slice(&[b'0', x]);
        }
        for (k, &c) in s[..length].iter().enumerate() {
            if self.f.space && k > 0 {
                buf.push(b' ');
                if self.f.sharp {
                    buf.extend_from_slice(&[b'0', x]);
                }
            }
            buf.push(digits[usize::from(c >> 4)]);
            buf.push(digits[usize::from(c & 0xF)]);
        }
        self.write(&buf)?;
        if w > width && self.f.minus {
            self.padding(w - width)?;
        }
        Ok(())
    }

    fn integer(&mut self, n: i64, verb: char, arg: &Value, depth: usize) -> Result<(), FuncError> {
        let (base, upper) = match verb {
            'v' | 'd' => (10, false),
            'b' => (2, false),
            'o' | 'O' => (8, false),
            'x' => (16, false),
            'X' => (16, true),
            'c' => {
                let c = u32::try_from(n)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{FFFD}');
                return self.pad(c.encode_utf8(&mut [0; 4]).as_bytes());
            }
            'q' => {
                let c = u32::try_from(n)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{FFFD}');
                let q = quote_rune(c, self.f.plus);
                return self.pad(q.as_bytes());
            }
            'U' => return self.unicode(n),
            'e' | 'E' | 'f' | 'F' | 'g' | 'G' | 's' | 't' => {
                return self.bad_verb(verb, arg, depth);
            }
            _ => return self.bad_verb(verb, arg, depth),
        };
        let negative = n < 0;
        let mut u = n.unsigned_abs();
        let f = self.f;
        let mut prec = 0usize;
        if let Some(p) = f.precision {
            prec = p;
            if p == 0 && u == 0 {
                let old = self.f.zero;
                self.f.zero = false;
                self.padding(f.width.unwrap_or(0))?;
                self.f.zero = old;
                return Ok(());
            }
        } else if f.zero && !f.minus && f.width.is_some() {
            prec = f.width.unwrap_or(0);
            if negative || f.plus || f.space {
                prec = prec.saturating_sub(1);
            }
        }
        if prec > self.cap {
            return Err(FuncError::TooLarge);
        }
        let digits: &[u8; 16] = if upper {
            b"0123456789ABCDEF"
        } else {
            b"0123456789abcdef"
        };
        let mut buf: Vec<u8> = Vec::new();
        loop {
            buf.push(digits[(u % base) as usize]);
            u /= base;
            if u == 0 {
                break;
            }
        }
        while buf.len() < prec {
            buf.push(b'0');
        }
        if f.sharp {
            match base {
                2 => buf.extend_from_slice(b"b0"),
                8 if buf.last() != Some(&b'0') => buf.push(b'0'),
                16 => buf.extend_from_slice(if upper { b"X0" } else { b"x0" }),
                _ => {}
            }
        }
        if verb == 'O' {
            buf.extend_from_slice(b"o0");
        }
        if negative {
            buf.push(b'-');
        } else if f.plus {
            buf.push(b'+');
        } else if f.space {
            buf.push(b' ');
        }
        buf.reverse();
        let old = self.f.zero;
        self.f.zero = false;
        let r = self.pad(&buf);
        self.f.zero = old;
        r
    }

    fn unicode(&mut self, n: i64) -> Result<(), FuncError> {
        let u = n as u64;
        let mut prec = 4usize;
        if let Some(p) = self.f.precision.filter(|p| *p > 4) {
            prec = p;
        }
        if prec > self.cap {
            return Err(FuncError::TooLarge);
        }
        let mut s = format!("{u:X}");
        while s.len() < prec {
            s.insert(0, '0');
        }
        let mut out = format!("U+{s}");
        if self.f.sharp
            && let Some(c) = u32::try_from(u).ok().and_then(char::from_u32)
            && crate::text::is_go_printable(c)
        {
            out.push_str(&format!(" '{c}'"));
        }
        let old = self.f.zero;
        self.f.zero = false;
        let r = self.pad(out.as_bytes());
        self.f.zero = old;
        r
    }

    fn float(&mut self, x: f64, verb: char, arg: &Value, depth: usize) -> Result<(), FuncError> {
        let (verb, default_prec) = match verb {
            'v' => ('g', None),
            'x' | 'X' => (verb, None),
            'g' | 'G' => (verb, None),
            'f' | 'F' | 'e' | 'E' => (verb, Some(6)),
            _ => return self.bad_verb(verb, arg, depth),
        };
        let prec = self.f.precision.or(default_prec);
        if prec.is_some_and(|p| p > self.cap) {
            return Err(FuncError::TooLarge);
        }
        let mut num = format_go_float(x, verb, prec).into_bytes();
        if num[0] != b'-' && num[0] != b'+' {
            num.insert(0, b'+');
        }
        if self.f.space && num[0] == b'+' && !self.f.plus {
            num[0] = b' ';
        }
        if num[1] == b'I' || num[1] == b'N' {
            let old = self.f.zero;
            self.f.zero = false;
            if num[1] == b'N' && !self.f.space && !self.f.plus {
                num.remove(0);
            }
            let r = self.pad(&num);
            self.f.zero = old;
            return r;
        }
        if self.f.sharp {
            return Err(FuncError::Invalid(
                "the # flag on a float is not supported".into(),
            ));
        }
        if self.f.plus || num[0] != b'+' {
            let w = self.f.width.unwrap_or(0);
            if self.f.zero && !self.f.minus && w > num.len() {
                self.write(&num[..1])?;
                self.padding(w - num.len())?;
                return self.write(&num[1..]);
            }
            return self.pad(&num);
        }
        self.pad(&num[1..])
    }
}

/// Go's `strconv.FormatFloat(x, verb, prec, 64)` for `e E f F g G` (`prec` `None`: shortest).
pub(crate) fn format_go_float(x: f64, verb: char, prec: Option<usize>) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let neg = x.is_sign_negative();
    let a = x.abs();
    let sign = if neg { "-" } else { "" };
    match verb {
        'x' | 'X' if prec.is_none() => {
            let s = hex_float(a);
            let s = if verb == 'X' { s.to_uppercase() } else { s };
            format!("{sign}{s}")
        }
        'f' | 'F' => match prec {
            Some(p) => format!("{sign}{a:.p$}"),
            None => format!("{sign}{a}"),
        },
        'e' | 'E' => {
            let (digits, dp) = decimal_digits(a, prec.map(|p| p + 1));
            let p = prec.unwrap_or(digits.len().saturating_sub(1));
            let s = fmt_e(&digits, dp, p, verb);
            format!("{sign}{s}")
        }
        _ => {
            let shortest = prec.is_none();
            let mut p = prec.unwrap_or(0);
            if !shortest && p == 0 {
                p = 1;
            }
            let (digits, dp) = decimal_digits(a, if shortest { None } else { Some(p) });
            let nd = digits.len() as i64;
            let dp_i = dp;
            let mut eprec = if shortest { 6 } else { p as i64 };
            if !shortest && eprec > nd && nd >= dp_i {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dp_i - 1;
            let e = if verb == 'G' { 'E' } else { 'e' };
            if exp < -4 || exp >= eprec {
                let mut pp = if shortest { nd } else { p as i64 };
                if pp > nd {
                    pp = nd;
                }
                let s = fmt_e(&digits, dp, (pp - 1).max(0) as usize, e);
                return format!("{sign}{s}");
            }
            let mut pp = if shortest { nd } else { p as i64 };
            if pp > dp_i {
                pp = nd;
            }
            let s = fmt_f(&digits, dp, (pp - dp_i).max(0) as usize);
            format!("{sign}{s}")
        }
    }
}

/// Go's shortest `%x` of a non-negative float: `0x1.8p+00`.
fn hex_float(a: f64) -> String {
    if a == 0.0 {
        return "0x0p+00".into();
    }
    let bits = a.to_bits();
    let mut mant = bits & ((1u64 << 52) - 1);
    let mut exp = ((bits >> 52) & 0x7ff) as i64;
    if exp == 0 {
        // A subnormal: shift until the leading 1 reaches the implicit bit.
        exp = -1022;
        while mant & (1u64 << 52) == 0 {
            mant <<= 1;
            exp -= 1;
        }
        mant &= (1u64 << 52) - 1;
    } else {
        exp -= 1023;
    }
    let frac = format!("{mant:013x}");
    let frac = frac.trim_end_matches('0');
    let dot = if frac.is_empty() { "" } else { "." };
    let (sign, e) = if exp < 0 { ('-', -exp) } else { ('+', exp) };
    format!("0x1{dot}{frac}p{sign}{e:02}")
}

/// The decimal digits of `a` (no trailing zeros; `"0"` gives no digits) and the decimal point
/// position, rounded to `sig` significant digits or shortest.
fn decimal_digits(a: f64, sig: Option<usize>) -> (Vec<u8>, i64) {
    if a == 0.0 {
        return (Vec::new(), 1);
    }
    let text = match sig {
        Some(s) => format!("{:.*e}", s.saturating_sub(1), a),
        None => format!("{a:e}"),
    };
    let (m, e) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i64 = e.parse().unwrap_or(0);
    let mut digits: Vec<u8> = m.bytes().filter(u8::is_ascii_digit).collect();
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    (digits, exp + 1)
}

fn fmt_e(digits: &[u8], dp: i64, prec: usize, e: char) -> String {
    let mut s = String::new();
    s.push(digits.first().map_or('0', |d| char::from(*d)));
    if prec > 0 {
        s.push('.');
        for k in 1..=prec {
            s.push(digits.get(k).map_or('0', |d| char::from(*d)));
        }
    }
    let exp = if digits.is_empty() { 0 } else { dp - 1 };
    s.push(e);
    s.push(if exp < 0 { '-' } else { '+' });
    let ea = exp.unsigned_abs();
    if ea < 10 {
        s.push('0');
    }
    s.push_str(&ea.to_string());
    s
}

fn fmt_f(digits: &[u8], dp: i64, prec: usize) -> String {
    let mut s = String::new();
    if dp > 0 {
        for k in 0..dp as usize {
            s.push(digits.get(k).map_or('0', |d| char::from(*d)));
        }
    } else {
        s.push('0');
    }
    if prec > 0 {
        s.push('.');
        for k in 0..prec as i64 {
            let idx = dp + k;
            s.push(if idx < 0 {
                '0'
            } else {
                digits.get(idx as usize).map_or('0', |d| char::from(*d))
            });
        }
    }
    s
}

fn rune_count(b: &[u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < b.len() {
        let (_, size) = crate::text::decode_rune(&b[i..]);
        i += size;
        n += 1;
    }
    n
}

/// The first `precision` characters of `s` (an invalid byte counts as one).
fn truncate_runes(s: &[u8], precision: Option<usize>) -> &[u8] {
    let Some(p) = precision else { return s };
    let mut i = 0;
    for _ in 0..p {
        if i >= s.len() {
            break;
        }
        i += crate::text::decode_rune(&s[i..]).1;
    }
    &s[..i]
}

/// Go's `strconv.CanBackquote`.
fn can_backquote(s: &str) -> bool {
    s.chars()
        .all(|c| c != '`' && c != '\u{FEFF}' && (c == '\t' || !(c < ' ' || c == '\u{7f}')))
}

/// Go's `strconv.QuoteRune` (`ascii`: `QuoteRuneToASCII`).
fn quote_rune(c: char, ascii: bool) -> String {
    let body = match c {
        '\'' => "\\'".to_owned(),
        '\\' => "\\\\".to_owned(),
        '\u{7}' => "\\a".into(),
        '\u{8}' => "\\b".into(),
        '\u{c}' => "\\f".into(),
        '\n' => "\\n".into(),
        '\r' => "\\r".into(),
        '\t' => "\\t".into(),
        '\u{b}' => "\\v".into(),
        c if (!ascii || c.is_ascii()) && crate::text::is_go_printable(c) => c.to_string(),
        c if (c as u32) < 0x20 || c == '\u{7f}' => format!("\\x{:02x}", c as u32),
        c if (c as u32) < 0x10000 => format!("\\u{:04x}", c as u32),
        c => format!("\\U{:08x}", c as u32),
    };
    format!("'{body}'")
}

/// Go's `strconv.QuoteToASCII`.
fn go_quote_ascii(bytes: &[u8]) -> String {
    let q = go_quote(bytes);
    let mut out = String::with_capacity(q.len());
    for c in q.chars() {
        match c as u32 {
            0..=0x7f => out.push(c),
            n if n < 0x10000 => out.push_str(&format!("\\u{n:04x}")),
            n => out.push_str(&format!("\\U{n:08x}")),
        }
    }
    out
}

/// Go's `strconv.Quote`: double-quoted with Go escapes; bytes that are not UTF-8 become `\xNN`.
pub(crate) fn go_quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{b}' => out.push_str("\\v"),
                c if crate::text::is_go_printable(c) => out.push(c),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    out.push_str(&format!("\\x{:02x}", c as u32))
                }
                c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push_str(&format!("\\U{:08x}", c as u32)),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(format: &str, args: &[Value]) -> String {
        String::from_utf8(printf(format, true, args, usize::MAX).unwrap().to_vec()).unwrap()
    }

    #[test]
    fn printf_verbs() {
        assert_eq!(
            fmt("%s:%d", &[Value::str("db"), Value::Int(5432)]),
            "db:5432"
        );
        assert_eq!(
            fmt(
                "%5d|%-4s|%05d",
                &[Value::Int(42), Value::str("ab"), Value::Int(-7)]
            ),
            "   42|ab  |-0007"
        );
        assert_eq!(
            fmt(
                "%x %X %q",
                &[Value::Int(255), Value::str("hi"), Value::str("a\"b")]
            ),
            "ff 6869 \"a\\\"b\""
        );
        assert_eq!(
            fmt(
                "%.2f %e %v %t",
                &[
                    Value::Float(1.23456),
                    Value::Float(1234.5),
                    Value::Float(0.5),
                    Value::Bool(true)
                ]
            ),
            "1.23 1.234500e+03 0.5 true"
        );
        assert_eq!(fmt("%.3s%%", &[Value::str("abcdef")]), "abc%");
    }

    #[test]
    fn printf_reports_like_go() {
        assert_eq!(fmt("%d", &[Value::str("abc")]), "%!d(string=abc)");
        assert_eq!(fmt("%s %s", &[Value::str("a")]), "a %!s(MISSING)");
        assert_eq!(
            fmt("%s", &[Value::str("a"), Value::Int(2)]),
            "a%!(EXTRA int=2)"
        );
        assert_eq!(
            fmt("%[2]s %[1]s", &[Value::str("a"), Value::str("b")]),
            "b a"
        );
        assert_eq!(fmt("%*d|", &[Value::Int(4), Value::Int(7)]), "   7|");
        assert_eq!(fmt("%", &[]), "%!(NOVERB)");
        assert_eq!(
            fmt("%#x % x", &[Value::str("ab"), Value::str("ab")]),
            "0x6162 61 62"
        );
        assert_eq!(
            fmt(
                "%.3g %g %v",
                &[
                    Value::Float(123456.789),
                    Value::Float(1e21),
                    Value::Float(1e6)
                ]
            ),
            "1.23e+05 1e+21 1e+06"
        );
        assert!(matches!(
            printf("%9999d", true, &[Value::Int(1)], 100),
            Err(FuncError::TooLarge)
        ));
    }

    #[test]
    fn sprint_spacing() {
        let out = sprint(
            &[
                Value::str("a"),
                Value::Int(1),
                Value::Int(2),
                Value::str("b"),
            ],
            false,
            usize::MAX,
        )
        .unwrap();
        assert_eq!(out.as_slice(), b"a1 2b");
        let out = sprint(&[Value::str("a"), Value::str("b")], true, usize::MAX).unwrap();
        assert_eq!(out.as_slice(), b"a b\n");
    }

    #[test]
    fn quote_like_go() {
        assert_eq!(go_quote(b"a\tb\"\\"), r#""a\tb\"\\""#);
        assert_eq!(go_quote("é\u{0}\u{200b}".as_bytes()), r#""é\x00\u200b""#);
        assert_eq!(go_quote(b"\xff"), r#""\xff""#);
    }
}
