//! Lexer: splits template source into text and action tokens, following Go `text/template`'s rules for
//! delimiters, trim markers (`{{- ` and ` -}}`), comments and literals.

/// Characters removed by trim markers and allowed around them (Go's `spaceChars`).
const SPACE_CHARS: [char; 4] = [' ', '\t', '\r', '\n'];

/// One lexical item.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Text(String),
    LeftDelim,
    RightDelim,
    Ident(String),
    Keyword(Keyword),
    /// `.name` (without the dot).
    Field(String),
    Dot,
    /// `$name` (with the dollar), or `$` alone.
    Var(String),
    Str(String),
    /// A quoted string whose escapes make bytes that are not UTF-8 (`"\\xff"`), as Go allows.
    Bytes(Vec<u8>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    LParen,
    RParen,
    Pipe,
    Declare,
    Assign,
    Comma,
}

/// Reserved words that start or end control structures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyword {
    If,
    Else,
    End,
    Range,
    With,
    Break,
    Continue,
    Define,
    Template,
    Block,
}

/// A token with its position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    /// 1-based line where the token starts.
    pub(crate) line: usize,
    /// Whether whitespace separates this token from the previous one (matters for field chains).
    pub(crate) space_before: bool,
}

/// A lexing failure: line and message.
pub(crate) type LexError = (usize, String);

/// Splits `src` into tokens.
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, LexError> {
    let mut lexer = Lexer {
        src,
        pos: 0,
        line: 1,
        tokens: Vec::new(),
    };
    lexer.run()?;
    Ok(lexer.tokens)
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    line: usize,
    tokens: Vec<Token>,
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn push(&mut self, tok: Tok, line: usize, space_before: bool) {
        self.tokens.push(Token {
            tok,
            line,
            space_before,
        });
    }

    fn advance(&mut self, n: usize) {
        self.line += self.src[self.pos..self.pos + n].matches('\n').count();
        self.pos += n;
    }

    fn run(&mut self) -> Result<(), LexError> {
        let mut trim_next = false;
        loop {
            let start_line = self.line;
            let delim = self.rest().find("{{");
            let end = delim.map_or(self.src.len(), |d| self.pos + d);
            let mut text = &self.src[self.pos..end];
            if trim_next {
                text = text.trim_start_matches(SPACE_CHARS);
            }
            let left_trim = delim.is_some() && has_left_trim_marker(&self.src[end + 2..]);
            if left_trim {
                text = text.trim_end_matches(SPACE_CHARS);
            }
            if !text.is_empty() {
                // The line of the first kept character is good enough for messages.
                self.push(Tok::Text(text.to_owned()), start_line, false);
            }
            self.advance(end - self.pos);
            if delim.is_none() {
                return Ok(());
            }
            self.advance(if left_trim { 3 } else { 2 });
            trim_next = self.lex_action(left_trim)?;
        }
    }

    /// Lexes one action after its left delimiter; returns whether it ended with a right trim marker.
    fn lex_action(&mut self, left_trim: bool) -> Result<bool, LexError> {
        // A comment must start right after the delimiter (and the trim marker's space).
        let comment_offset = if left_trim { 1 } else { 0 };
        if self
            .rest()
            .get(comment_offset..)
            .is_some_and(|r| r.starts_with("/*"))
        {
            return self.lex_comment(comment_offset);
        }
        let open_line = self.line;
        self.push(Tok::LeftDelim, open_line, false);
        let mut space = false;
        loop {
            let rest = self.rest();
            if rest.starts_with("}}") {
                let line = self.line;
                self.push(Tok::RightDelim, line, space);
                self.advance(2);
                return Ok(false);
            }
            if has_right_trim_marker(rest) {
                let line = self.line;
                self.push(Tok::RightDelim, line, true);
                self.advance(4);
                return Ok(true);
            }
            let Some(c) = rest.chars().next() else {
                return Err((open_line, "unclosed action".into()));
            };
            if SPACE_CHARS.contains(&c) {
                self.advance(1);
                space = true;
                continue;
            }
            let line = self.line;
            let (tok, len) = self.lex_item(c)?;
            self.push(tok, line, space);
            self.advance(len);
            space = false;
        }
    }

    fn lex_comment(&mut self, offset: usize) -> Result<bool, LexError> {
        let line = self.line;
        let body = &self.rest()[offset + 2..];
        let Some(close) = body.find("*/") else {
            return Err((line, "unclosed comment".into()));
        };
        let after = &body[close + 2..];
        let (tail, trim) = if after.starts_with("}}") {
            (2, false)
        } else if has_right_trim_marker(after) {
            (4, true)
        } else {
            return Err((line, "comment ends before closing delimiter".into()));
        };
        self.advance(offset + 2 + close + 2 + tail);
        Ok(trim)
    }

    /// Lexes one token starting with `c`; returns the token and its length in bytes.
    fn lex_item(&self, c: char) -> Result<(Tok, usize), LexError> {
        let rest = self.rest();
        let err = |msg: String| Err((self.line, msg));
        match c {
            '(' => Ok((Tok::LParen, 1)),
            ')' => Ok((Tok::RParen, 1)),
            '|' => Ok((Tok::Pipe, 1)),
            ',' => Ok((Tok::Comma, 1)),
            '=' => Ok((Tok::Assign, 1)),
            ':' if rest.starts_with(":=") => Ok((Tok::Declare, 2)),
            '"' => lex_quoted(rest).map_err(|m| (self.line, m)),
            '`' => match rest[1..].find('`') {
                Some(end) => Ok((Tok::Str(rest[1..=end].to_owned()), end + 2)),
                None => err("unterminated raw string".into()),
            },
            '\'' => lex_char(rest).map_err(|m| (self.line, m)),
            '$' => {
                let len = 1 + ident_len(&rest[1..]);
                Ok((Tok::Var(rest[..len].to_owned()), len))
            }
            '.' => {
                let next = rest[1..].chars().next();
                if next.is_some_and(|n| n.is_ascii_digit()) {
                    lex_number(rest).map_err(|m| (self.line, m))
                } else if next.is_some_and(is_ident_char) {
                    let len = ident_len(&rest[1..]);
                    Ok((Tok::Field(rest[1..=len].to_owned()), len + 1))
                } else {
                    Ok((Tok::Dot, 1))
                }
            }
            '+' | '-' | '0'..='9' => lex_number(rest).map_err(|m| (self.line, m)),
            c if is_ident_char(c) => {
                let len = ident_len(rest);
                let word = &rest[..len];
                let tok = match word {
                    "if" => Tok::Keyword(Keyword::If),
                    "else" => Tok::Keyword(Keyword::Else),
                    "end" => Tok::Keyword(Keyword::End),
                    "range" => Tok::Keyword(Keyword::Range),
                    "with" => Tok::Keyword(Keyword::With),
                    "break" => Tok::Keyword(Keyword::Break),
                    "continue" => Tok::Keyword(Keyword::Continue),
                    "define" => Tok::Keyword(Keyword::Define),
                    "template" => Tok::Keyword(Keyword::Template),
                    "block" => Tok::Keyword(Keyword::Block),
                    "true" => Tok::Bool(true),
                    "false" => Tok::Bool(false),
                    "nil" => Tok::Nil,
                    _ => Tok::Ident(word.to_owned()),
                };
                Ok((tok, len))
            }
            c => err(format!("unexpected character {c:?} in action")),
        }
    }
}

fn has_left_trim_marker(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && SPACE_CHARS.contains(&(b[1] as char))
}

fn has_right_trim_marker(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 4 && SPACE_CHARS.contains(&(b[0] as char)) && &b[1..4] == b"-}}"
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

fn ident_len(s: &str) -> usize {
    s.find(|c: char| !is_ident_char(c)).unwrap_or(s.len())
}

/// Lexes a Go number literal (ints in decimal, hex, octal, binary; floats), rejecting imaginary numbers.
fn lex_number(s: &str) -> Result<(Tok, usize), String> {
    let bytes = s.as_bytes();
    let mut i = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits_start = i;
    let radix_prefix = bytes.get(i) == Some(&b'0')
        && matches!(
            bytes.get(i + 1),
            Some(b'x' | b'X' | b'o' | b'O' | b'b' | b'B')
        );
    if radix_prefix {
        i += 2;
    }
    let is_num_char = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.';
    while i < bytes.len() {
        let b = bytes[i];
        let hex = radix_prefix && matches!(bytes.get(digits_start + 1), Some(b'x' | b'X'));
        let exp_sign = matches!(b, b'+' | b'-')
            && ((!radix_prefix && matches!(bytes.get(i.wrapping_sub(1)), Some(b'e' | b'E')))
                || (hex && matches!(bytes.get(i.wrapping_sub(1)), Some(b'p' | b'P'))));
        if is_num_char(b) || exp_sign {
            i += 1;
        } else {
            break;
        }
    }
    let text = &s[..i];
    let bad = || format!("bad number syntax: {text:?}");
    if i == digits_start {
        return Err(bad());
    }
    let (negative, body) = match text.as_bytes()[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let clean: String = body.chars().filter(|&c| c != '_').collect();
    let parsed_int = |digits: &str, radix: u32| {
        i64::from_str_radix(digits, radix)
            .ok()
            .map(|v| if negative { -v } else { v })
    };
    let tok =
        if radix_prefix && matches!(clean.as_bytes()[1], b'x' | b'X') && clean.contains(['p', 'P'])
        {
            // A hexadecimal float (`0x1.8p3`): hex mantissa times a power of two.
            let (mantissa, exp) = clean[2..].split_once(['p', 'P']).ok_or_else(bad)?;
            let exp: i32 = exp.parse().map_err(|_| bad())?;
            let (whole, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
            if whole.is_empty() && frac.is_empty() {
                return Err(bad());
            }
            let digits = format!("{whole}{frac}");
            let m = u64::from_str_radix(&digits, 16).map_err(|_| bad())? as f64;
            let frac_bits = i32::try_from(frac.len() * 4).map_err(|_| bad())?;
            let v = m * 2f64.powi(exp - frac_bits);
            Tok::Float(if negative { -v } else { v })
        } else if radix_prefix {
            let radix = match clean.as_bytes()[1] {
                b'x' | b'X' => 16,
                b'o' | b'O' => 8,
                _ => 2,
            };
            Tok::Int(parsed_int(&clean[2..], radix).ok_or_else(bad)?)
        } else if clean.contains(['.', 'e', 'E']) {
            let v: f64 = clean.parse().map_err(|_| bad())?;
            Tok::Float(if negative { -v } else { v })
        } else if clean.len() > 1 && clean.starts_with('0') {
            Tok::Int(parsed_int(&clean[1..], 8).ok_or_else(bad)?)
        } else {
            Tok::Int(parsed_int(&clean, 10).ok_or_else(bad)?)
        };
    Ok((tok, i))
}

/// Lexes a double-quoted string with Go escapes.
fn lex_quoted(s: &str) -> Result<(Tok, usize), String> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                let tok = match String::from_utf8(out) {
                    Ok(text) => Tok::Str(text),
                    Err(e) => Tok::Bytes(e.into_bytes()),
                };
                return Ok((tok, i + 1));
            }
            '\n' => break,
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                unescape(e, &mut chars, '"', &mut out)?;
            }
            c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    Err("unterminated quoted string".into())
}

/// Lexes a character constant like `'a'` or `'\n'`; its value is the code point.
fn lex_char(s: &str) -> Result<(Tok, usize), String> {
    let mut chars = s.char_indices().skip(1);
    let mut out = Vec::new();
    match chars.next() {
        Some((_, '\\')) => {
            let (_, e) = chars.next().ok_or("unterminated character constant")?;
            unescape(e, &mut chars, '\'', &mut out)?;
        }
        Some((_, '\'' | '\n')) | None => return Err("malformed character constant".into()),
        Some((_, c)) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
    }
    match chars.next() {
        Some((i, '\'')) => {
            let text = String::from_utf8(out).map_err(|_| "malformed character constant")?;
            let mut cs = text.chars();
            match (cs.next(), cs.next()) {
                (Some(c), None) => Ok((Tok::Int(i64::from(u32::from(c))), i + 1)),
                _ => Err("malformed character constant".into()),
            }
        }
        _ => Err("malformed character constant".into()),
    }
}

/// Appends the bytes of the escape sequence that starts with `\` `e`.
fn unescape(
    e: char,
    chars: &mut impl Iterator<Item = (usize, char)>,
    quote: char,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let mut take_digits = |n: usize, radix: u32, first: Option<char>| -> Result<u32, String> {
        let mut v = 0u32;
        for k in 0..n {
            let d = match (k, first) {
                (0, Some(f)) => f,
                _ => chars.next().map(|(_, c)| c).ok_or("bad escape sequence")?,
            };
            v = v * radix + d.to_digit(radix).ok_or("bad escape sequence")?;
        }
        Ok(v)
    };
    let simple = match e {
        'a' => Some(7u8),
        'b' => Some(8),
        'f' => Some(12),
        'n' => Some(b'\n'),
        'r' => Some(b'\r'),
        't' => Some(b'\t'),
        'v' => Some(11),
        '\\' => Some(b'\\'),
        c if c == quote => Some(c as u8),
        _ => None,
    };
    if let Some(b) = simple {
        out.push(b);
        return Ok(());
    }
    match e {
        'x' => out.push(take_digits(2, 16, None)? as u8),
        '0'..='7' => {
            let v = take_digits(3, 8, Some(e))?;
            out.push(u8::try_from(v).map_err(|_| "bad escape sequence")?);
        }
        'u' | 'U' => {
            let v = take_digits(if e == 'u' { 4 } else { 8 }, 16, None)?;
            let c = char::from_u32(v).ok_or("bad escape sequence")?;
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        }
        _ => return Err("bad escape sequence".into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        lex(src).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn text_and_action() {
        assert_eq!(
            toks("a {{ .b }} c"),
            vec![
                Tok::Text("a ".into()),
                Tok::LeftDelim,
                Tok::Field("b".into()),
                Tok::RightDelim,
                Tok::Text(" c".into())
            ]
        );
    }

    #[test]
    fn trim_markers_and_comments() {
        assert_eq!(
            toks("a \n{{- /* note */ -}}\n b"),
            vec![Tok::Text("a".into()), Tok::Text("b".into())]
        );
        assert_eq!(toks("{{-3}}")[1], Tok::Int(-3));
    }

    #[test]
    fn literals() {
        assert_eq!(
            toks(r#"{{ "a\tb\u00e9" `raw\n` 'x' 0x1F 010 1.5 -2 true nil $v $ }}"#)[1..11],
            [
                Tok::Str("a\tb\u{e9}".into()),
                Tok::Str("raw\\n".into()),
                Tok::Int(120),
                Tok::Int(31),
                Tok::Int(8),
                Tok::Float(1.5),
                Tok::Int(-2),
                Tok::Bool(true),
                Tok::Nil,
                Tok::Var("$v".into()),
            ]
        );
    }

    #[test]
    fn errors() {
        assert!(lex("{{ .a ").is_err());
        assert!(lex("{{ \"abc }}").is_err());
        assert!(lex("{{ 12abc }}").is_err());
        assert!(lex("{{ /* x */ }}").is_err());
        assert!(lex("{{/* x */ }}").is_err());
    }
}
