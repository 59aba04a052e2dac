//! sprig's `snakecase`, `kebabcase` and `camelcase`, as `github.com/huandu/xstrings` v1.5 splits and
//! joins words: on Go strings (bytes; a byte that is not UTF-8 reads as U+FFFD, one byte long), with
//! Go's Unicode classes (`unicode.IsUpper`, `IsLetter`, `IsNumber`, `IsPunct`, `IsSpace`) and simple
//! case mapping.

use std::sync::LazyLock;

use regex::Regex;

const RUNE_ERROR: u32 = 0xFFFD;

/// `utf8.DecodeRuneInString`: the rune and its size; (U+FFFD, 1) for a byte that is not UTF-8.
fn decode(s: &[u8]) -> (u32, usize) {
    let Some(chunk) = s.utf8_chunks().next() else {
        return (RUNE_ERROR, 0);
    };
    match chunk.valid().chars().next() {
        Some(c) => (u32::from(c), c.len_utf8()),
        None => (RUNE_ERROR, 1),
    }
}

fn char_of(r: u32) -> char {
    char::from_u32(r).unwrap_or('\u{FFFD}')
}

fn class(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|_| unreachable!("a valid Unicode class"))
}

static UPPER: LazyLock<Regex> = LazyLock::new(|| class(r"^\p{Lu}$"));
static LETTER: LazyLock<Regex> = LazyLock::new(|| class(r"^\p{L}$"));
static NUMBER: LazyLock<Regex> = LazyLock::new(|| class(r"^\p{N}$"));
static PUNCT: LazyLock<Regex> = LazyLock::new(|| class(r"^\p{P}$"));

fn is(class: &Regex, r: u32) -> bool {
    let mut buf = [0; 4];
    class.is_match(char_of(r).encode_utf8(&mut buf))
}

fn is_upper(r: u32) -> bool {
    is(&UPPER, r)
}

fn is_space(r: u32) -> bool {
    char_of(r).is_whitespace() && r != RUNE_ERROR
}

fn is_connector(r: u32) -> bool {
    r == u32::from('-') || r == u32::from('_') || is_space(r)
}

/// xstrings' `isAlphabet`: a letter, but not a CJK character.
fn is_alphabet(r: u32) -> bool {
    is(&LETTER, r)
        && !((0x4E00..=0x9FCC).contains(&r)
            || (0x3400..=0x4D85).contains(&r)
            || (0x2_0000..=0x2_B81D).contains(&r))
}

fn to_lower(r: u32) -> u32 {
    u32::from(crate::text::go_lower_char(char_of(r)))
}

fn to_upper(r: u32) -> u32 {
    u32::from(crate::text::go_upper_char(char_of(r)))
}

fn push_rune(out: &mut Vec<u8>, r: u32) {
    let mut buf = [0; 4];
    out.extend_from_slice(char_of(r).encode_utf8(&mut buf).as_bytes());
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Word {
    Invalid,
    Number,
    Upper,
    Alphabet,
    Connector,
    Punct,
    Other,
}

/// `nextValidRune`: the first rune of `s` that is not U+FFFD, and the bytes up to its end; `prev`
/// when there is none.
fn next_valid(s: &[u8], prev: u32) -> (u32, usize) {
    let mut size = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let (r, n) = decode(rest);
        size += n;
        if r != RUNE_ERROR {
            return (r, size);
        }
        rest = &rest[n..];
    }
    (prev, size)
}

/// `nextWord`: the type of the word at the start of `s`, the word, and what follows.
fn next_word(s: &[u8]) -> (Word, &[u8], &[u8]) {
    if s.is_empty() {
        return (Word::Invalid, s, s);
    }
    let (mut r, mut size) = next_valid(s, RUNE_ERROR);
    let mut offset = size;
    if r == RUNE_ERROR {
        return (Word::Invalid, &s[..offset], &s[offset..]);
    }
    let mut remaining = s;
    // Extends the word while `more` holds for the next valid rune.
    let run =
        |remaining: &mut &[u8], offset: &mut usize, r: &mut u32, more: &dyn Fn(u32) -> bool| {
            while !remaining.is_empty() {
                let (next, n) = next_valid(remaining, *r);
                *r = next;
                if !more(next) {
                    break;
                }
                *offset += n;
                *remaining = &remaining[n..];
            }
        };
    let wt;
    if is_connector(r) {
        wt = Word::Connector;
        remaining = &remaining[size..];
        run(&mut remaining, &mut offset, &mut r, &is_connector);
    } else if is(&PUNCT, r) {
        wt = Word::Punct;
        remaining = &remaining[size..];
        run(&mut remaining, &mut offset, &mut r, &|c| is(&PUNCT, c));
    } else if is_upper(r) {
        wt = Word::Upper;
        remaining = &remaining[size..];
        if !remaining.is_empty() {
            (r, size) = next_valid(remaining, r);
            if is_upper(r) {
                let mut prev_size = size;
                offset += size;
                remaining = &remaining[size..];
                while !remaining.is_empty() {
                    (r, size) = next_valid(remaining, r);
                    if !is_upper(r) {
                        break;
                    }
                    prev_size = size;
                    offset += size;
                    remaining = &remaining[size..];
                }
                // "HTTPStatus": the "S" starts the next word.
                if !remaining.is_empty() && is_alphabet(r) {
                    offset -= prev_size;
                    remaining = &s[offset..];
                }
            } else if is_alphabet(r) {
                offset += size;
                remaining = &remaining[size..];
                run(&mut remaining, &mut offset, &mut r, &|c| {
                    is_alphabet(c) && !is_upper(c)
                });
            }
        }
    } else if is_alphabet(r) {
        wt = Word::Alphabet;
        remaining = &remaining[size..];
        run(&mut remaining, &mut offset, &mut r, &|c| {
            is_alphabet(c) && !is_upper(c)
        });
    } else if is(&NUMBER, r) {
        wt = Word::Number;
        remaining = &remaining[size..];
        run(&mut remaining, &mut offset, &mut r, &|c| is(&NUMBER, c));
    } else {
        wt = Word::Other;
        remaining = &remaining[size..];
        while !remaining.is_empty() {
            let (next, n) = next_valid(remaining, r);
            r = next;
            if n == 0 || is_connector(r) || is_alphabet(r) || is(&NUMBER, r) || is(&PUNCT, r) {
                break;
            }
            offset += n;
            remaining = &remaining[n..];
        }
    }
    (wt, &s[..offset], remaining)
}

/// xstrings' `toLower`: upper-case and connector words rune by rune, the others as they are.
fn write_lower(out: &mut Vec<u8>, wt: Word, word: &[u8], connector: u32) {
    if wt != Word::Upper && wt != Word::Connector {
        out.extend_from_slice(word);
        return;
    }
    let mut rest = word;
    while !rest.is_empty() {
        let (r, n) = decode(rest);
        rest = &rest[n..];
        if is_connector(r) {
            push_rune(out, connector);
        } else if is_upper(r) {
            push_rune(out, to_lower(r));
        } else {
            push_rune(out, r);
        }
    }
}

/// `camelCaseToLowerCase`: `snakecase` with `_`, `kebabcase` with `-`.
pub(crate) fn delimited(s: &[u8], connector: char) -> Vec<u8> {
    let connector = u32::from(connector);
    let mut out = Vec::with_capacity(s.len() + 8);
    if s.is_empty() {
        return out;
    }
    let (mut wt, mut word, mut remaining) = next_word(s);
    while !remaining.is_empty() {
        if wt != Word::Connector {
            write_lower(&mut out, wt, word, connector);
        }
        let prev = wt;
        let last = word;
        (wt, word, remaining) = next_word(remaining);
        match prev {
            Word::Number => {
                while wt == Word::Alphabet || wt == Word::Number {
                    write_lower(&mut out, wt, word, connector);
                    (wt, word, remaining) = next_word(remaining);
                }
                if wt != Word::Invalid && wt != Word::Punct && wt != Word::Connector {
                    push_rune(&mut out, connector);
                }
            }
            Word::Connector => write_lower(&mut out, prev, last, connector),
            Word::Punct => {}
            _ => {
                if wt != Word::Number {
                    if wt != Word::Connector && wt != Word::Punct {
                        push_rune(&mut out, connector);
                    }
                    continue;
                }
                if remaining.is_empty() {
                    continue;
                }
                let number = word;
                (wt, word, remaining) = next_word(remaining);
                // A number is part of the word before it ("Bld4Floor" is "bld4_floor").
                if wt != Word::Alphabet {
                    write_lower(&mut out, Word::Number, number, connector);
                    if wt != Word::Connector && wt != Word::Punct {
                        push_rune(&mut out, connector);
                    }
                    continue;
                }
                // Lower-case letters after a number: the number starts a word ("HTTP2xx").
                push_rune(&mut out, connector);
                write_lower(&mut out, Word::Number, number, connector);
                while wt == Word::Alphabet || wt == Word::Number {
                    write_lower(&mut out, wt, word, connector);
                    (wt, word, remaining) = next_word(remaining);
                }
                if wt != Word::Invalid && wt != Word::Connector && wt != Word::Punct {
                    push_rune(&mut out, connector);
                }
            }
        }
    }
    write_lower(&mut out, wt, word, connector);
    out
}

/// `ToPascalCase` (sprig's `camelcase`): connectors removed, the rune after each upper-cased, runs of
/// upper-case letters after the first lower-cased.
pub(crate) fn pascal(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    if s.is_empty() {
        return out;
    }
    let mut rest = s;
    let mut first_upper = false;
    let (mut r0, mut size) = (0, 0);
    // Leading connectors stay.
    while !rest.is_empty() {
        (r0, size) = decode(rest);
        rest = &rest[size..];
        if !is_connector(r0) {
            first_upper = is_upper(r0);
            r0 = to_upper(r0);
            break;
        }
        push_rune(&mut out, r0);
    }
    if rest.is_empty() {
        if size != 0 {
            push_rune(&mut out, r0);
        }
        return out;
    }
    while !rest.is_empty() {
        let r1 = r0;
        (r0, size) = decode(rest);
        rest = &rest[size..];
        if is_connector(r0) && is_connector(r1) {
            push_rune(&mut out, r1);
            continue;
        }
        if is_connector(r1) {
            first_upper = is_upper(r0);
            r0 = to_upper(r0);
        } else {
            if first_upper {
                if is_upper(r0) {
                    r0 = to_lower(r0);
                } else {
                    first_upper = false;
                }
            }
            push_rune(&mut out, r1);
        }
    }
    push_rune(&mut out, r0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xstrings_documented_examples() {
        for (input, snake) in [
            ("FirstName", "first_name"),
            ("HTTPServer", "http_server"),
            ("NoHTTPS", "no_https"),
            ("GO_PATH", "go_path"),
            ("GO PATH", "go_path"),
            ("GO-PATH", "go_path"),
            ("http2xx", "http_2xx"),
            ("HTTP20xOK", "http_20x_ok"),
            ("Duration2m3s", "duration_2m3s"),
            ("Bld4Floor3rd", "bld4_floor_3rd"),
        ] {
            assert_eq!(
                delimited(input.as_bytes(), '_'),
                snake.as_bytes(),
                "{input}"
            );
        }
        for (input, pascal_case) in [
            ("some_words", "SomeWords"),
            ("http_server", "HttpServer"),
            ("no_https", "NoHttps"),
            ("_complex__case_", "_Complex_Case_"),
            ("some words", "SomeWords"),
            ("GOLANG_IS_GREAT", "GolangIsGreat"),
        ] {
            assert_eq!(pascal(input.as_bytes()), pascal_case.as_bytes(), "{input}");
        }
    }
}
