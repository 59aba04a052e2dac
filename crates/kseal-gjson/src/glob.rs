//! tidwall/match's `MatchLimit`, the wildcard matcher gjson uses for `*`/`?` keys and the `%`
//! query operators: `*` any run, `?` one character, `\` escapes, compared rune by rune (a bad
//! UTF-8 byte reads as U+FFFD). Like Go, a match that takes more than 10000 steps per byte of the
//! subject gives up as "no match"; every step is also charged to the lookup's budget.

use crate::Ctx;
use crate::scan::{decode_last_rune, decode_rune};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    No,
    Yes,
    Stop,
}

struct Steps {
    taken: u64,
    limit: u64,
}

/// Whether `subject` matches `pattern`.
pub(crate) fn matches(ctx: &mut Ctx, subject: &[u8], pattern: &[u8]) -> bool {
    if pattern == b"*" {
        return true;
    }
    let mut steps = Steps {
        taken: 0,
        limit: subject.len() as u64 * 10_000,
    };
    step(ctx, &mut steps, subject, pattern) == Outcome::Yes
}

const STAR: u32 = '*' as u32;
const QUESTION: u32 = '?' as u32;
const BACKSLASH: u32 = '\\' as u32;

fn step(ctx: &mut Ctx, steps: &mut Steps, mut s: &[u8], mut pat: &[u8]) -> Outcome {
    if steps.taken > steps.limit {
        return Outcome::Stop;
    }
    steps.taken += 1;
    if !ctx.charge(1) || !ctx.enter() {
        return Outcome::Stop;
    }
    let out = 'walk: {
        while !pat.is_empty() {
            let (pc, ps) = decode_rune(pat);
            let (sc, ss) = if s.is_empty() { (0, 0) } else { decode_rune(s) };
            let mut wild = false;
            let mut advance = ps;
            match pc {
                QUESTION => {
                    if ss == 0 {
                        break 'walk Outcome::No;
                    }
                }
                STAR => {
                    while pat.len() > 1 && pat[1] == b'*' {
                        pat = &pat[1..];
                    }
                    if pat.len() == 1 {
                        break 'walk Outcome::Yes;
                    }
                    let Some((s2, p2)) = trim_suffix(s, pat) else {
                        break 'walk Outcome::No;
                    };
                    s = s2;
                    pat = p2;
                    if pat.len() == 1 {
                        break 'walk Outcome::Yes;
                    }
                    let r = step(ctx, steps, s, &pat[1..]);
                    if r != Outcome::No {
                        break 'walk r;
                    }
                    if s.is_empty() {
                        break 'walk Outcome::No;
                    }
                    wild = true;
                }
                _ => {
                    if ss == 0 {
                        break 'walk Outcome::No;
                    }
                    let mut want = pc;
                    if pc == BACKSLASH {
                        pat = &pat[ps..];
                        let (c, n) = decode_rune(pat);
                        if n == 0 {
                            break 'walk Outcome::No;
                        }
                        want = c;
                        advance = n;
                    }
                    if sc != want {
                        break 'walk Outcome::No;
                    }
                }
            }
            s = &s[ss..];
            if !wild {
                pat = &pat[advance..];
            }
        }
        if s.is_empty() {
            Outcome::Yes
        } else {
            Outcome::No
        }
    };
    ctx.leave();
    out
}

/// Matches the pattern's literal tail against the subject's end (the pattern starts with `*`).
fn trim_suffix<'s, 'p>(mut s: &'s [u8], mut pat: &'p [u8]) -> Option<(&'s [u8], &'p [u8])> {
    while !s.is_empty() && pat.len() > 1 {
        let (pc, mut ps) = decode_last_rune(pat);
        let before = pat.len() - ps;
        let run = pat[..before]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        let escaped = run % 2 == 1;
        if escaped {
            ps += 1;
        }
        if pc == STAR && !escaped {
            break;
        }
        let (sc, ss) = decode_last_rune(s);
        if !((pc == QUESTION && !escaped) || pc == sc) {
            return None;
        }
        s = &s[..s.len() - ss];
        pat = &pat[..pat.len() - ps];
    }
    Some((s, pat))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str, p: &str) -> bool {
        matches(&mut Ctx::new(), s.as_bytes(), p.as_bytes())
    }

    #[test]
    fn wildcards() {
        assert!(m("hello", "h*o"));
        assert!(m("hello", "h?llo"));
        assert!(m("hello", "*"));
        assert!(m("", "*"));
        assert!(!m("", "?"));
        assert!(m("héllo", "h?llo"));
        assert!(m("a*b", "a\\*b"));
        assert!(!m("axb", "a\\*b"));
        assert!(m("abcabc", "*bc*c"));
        assert!(!m("abc", "*d"));
        assert!(m("Dale", "D*"));
        assert!(!m("dale", "D*"));
        // A bad byte reads as U+FFFD on both sides.
        assert!(m("\u{fffd}", "\u{fffd}"));
        assert!(matches(&mut Ctx::new(), b"\xff", b"\xfe"));
    }
}
