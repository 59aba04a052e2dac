//! `dataFrom[].rewrite`: renames the keys an `extract` or `find` produced before they go into the
//! Secret, like ESO's `utils.RewriteMap`.
//!
//! Each rewrite applies in order to every key; a `regexp` rewrite replaces every match of `source`
//! with `target`, with Go `regexp.ReplaceAllString` semantics: `$1`, `${1}`, `$name`, `${name}`,
//! `$$` for a literal `$`; `$name` takes the longest run of letters, digits and `_` (so `$1a` is the
//! group named `1a`, which does not exist, and expands to nothing; write `${1}a`); a group that is
//! missing or did not take part expands to nothing; a `$` not followed by a name stays literal.
//!
//! Differences from ESO, all turning a silent surprise into an error:
//! - Two keys that become the same key are an error (ESO keeps one of them at random).
//! - A key that becomes empty is an error (ESO drops it or fails later, depending on the version).
//!
//! The expressions run on Rust's `regex` engine, which has RE2's syntax and linear-time guarantee
//! like Go's `regexp`. Two differences remain: `\d`, `\w`, `\s` and `\b` are Unicode-aware (Go: ASCII
//! only), which for ASCII keys changes nothing but `\s` also matching a vertical tab; and syntax
//! only one engine knows (Go's `\Q…\E`, capture names starting with a digit) fails to compile with an
//! error naming the rewrite. ESO's `transform` (a Go template per key) and `merge` rewrites are not
//! modelled here.

use std::collections::BTreeMap;

use regex::{Captures, Regex};

/// One `dataFrom[].rewrite[]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rewrite {
    /// `regexp: {source, target}`: replace every match of `source` in the key with `target`.
    Regexp {
        /// The regular expression (RE2 syntax).
        source: String,
        /// The replacement, with Go's `$` expansion.
        target: String,
    },
}

/// Why a rewrite failed. Messages name the `dataFrom` entry, the rewrite and its regexp (all
/// manifest text), never a key: the keys are data (members of a fetched JSON secret, names of
/// secrets found by `find`, or what earlier rewrites made of them), so they are counted instead.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `source` does not compile.
    #[error("{}: invalid regexp {pattern:?}: {message}", at(*.entry, *.index))]
    InvalidRegexp {
        /// Position of the entry in `spec.dataFrom`, when the caller said.
        entry: Option<usize>,
        /// Position in the `rewrite` list.
        index: usize,
        /// The `source`.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// Keys became the same key.
    #[error(
        "{} (regexp {pattern:?}): {}",
        at(*.entry, *.index),
        collision_message(*.colliding, *.total)
    )]
    Collision {
        /// Position of the entry in `spec.dataFrom`, when the caller said.
        entry: Option<usize>,
        /// Position in the `rewrite` list.
        index: usize,
        /// The `source`.
        pattern: String,
        /// How many keys share their new name with another key.
        colliding: usize,
        /// How many keys the rewrite saw.
        total: usize,
    },
    /// Keys became empty.
    #[error(
        "{} (regexp {pattern:?}): {empty} of {total} keys rewrite to an empty name",
        at(*.entry, *.index)
    )]
    EmptyKey {
        /// Position of the entry in `spec.dataFrom`, when the caller said.
        entry: Option<usize>,
        /// Position in the `rewrite` list.
        index: usize,
        /// The `source`.
        pattern: String,
        /// How many keys became empty.
        empty: usize,
        /// How many keys the rewrite saw.
        total: usize,
    },
}

impl Error {
    /// Short stable label, e.g. for metrics and condition reasons.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidRegexp { .. } => "invalid_rewrite",
            Error::Collision { .. } => "rewrite_collision",
            Error::EmptyKey { .. } => "rewrite_empty_key",
        }
    }
}

fn collision_message(colliding: usize, total: usize) -> String {
    if colliding == 2 {
        format!("two keys rewrite to the same name ({total} keys in all)")
    } else {
        format!("{colliding} of {total} keys rewrite to a name that another key also gets")
    }
}

/// `dataFrom[2].rewrite[1]`, or `rewrite[1]` when the entry is not known.
fn at(entry: Option<usize>, index: usize) -> String {
    match entry {
        Some(entry) => format!("dataFrom[{entry}].rewrite[{index}]"),
        None => format!("rewrite[{index}]"),
    }
}

/// Applies `rewrites` in order to every key of `map`; values are moved, never inspected. Errors
/// name the rewrite as `rewrite[i]`; [`apply_entry`] also names the `dataFrom` entry.
pub fn apply<V>(
    map: BTreeMap<String, V>,
    rewrites: &[Rewrite],
) -> Result<BTreeMap<String, V>, Error> {
    apply_in(None, map, rewrites)
}

/// [`apply`] for the rewrites of `spec.dataFrom[entry]`: errors name `dataFrom[entry].rewrite[i]`.
pub fn apply_entry<V>(
    entry: usize,
    map: BTreeMap<String, V>,
    rewrites: &[Rewrite],
) -> Result<BTreeMap<String, V>, Error> {
    apply_in(Some(entry), map, rewrites)
}

fn apply_in<V>(
    entry: Option<usize>,
    map: BTreeMap<String, V>,
    rewrites: &[Rewrite],
) -> Result<BTreeMap<String, V>, Error> {
    rewrites
        .iter()
        .enumerate()
        .try_fold(map, |map, (index, rewrite)| match rewrite {
            Rewrite::Regexp { source, target } => regexp(entry, index, source, target, map),
        })
}

fn regexp<V>(
    entry: Option<usize>,
    index: usize,
    pattern: &str,
    target: &str,
    map: BTreeMap<String, V>,
) -> Result<BTreeMap<String, V>, Error> {
    let re = Regex::new(pattern).map_err(|e| Error::InvalidRegexp {
        entry,
        index,
        pattern: pattern.to_owned(),
        message: short_message(&e),
    })?;
    let total = map.len();
    let mut out = BTreeMap::new();
    let mut empty = 0;
    // How many keys got each new name (only counted once a name is shared).
    let mut shared: BTreeMap<String, usize> = BTreeMap::new();
    for (original, value) in map {
        let key = replace_all(&re, &original, target);
        if key.is_empty() {
            empty += 1;
            continue;
        }
        if out.contains_key(&key) {
            let n = shared.entry(key).or_insert(1);
            *n += 1;
            continue;
        }
        out.insert(key, value);
    }
    let colliding: usize = shared.values().sum();
    if empty > 0 {
        return Err(Error::EmptyKey {
            entry,
            index,
            pattern: pattern.to_owned(),
            empty,
            total,
        });
    }
    if colliding > 0 {
        return Err(Error::Collision {
            entry,
            index,
            pattern: pattern.to_owned(),
            colliding,
            total,
        });
    }
    Ok(out)
}

/// The regex crate's syntax errors span several lines (pattern, caret, message); keep the message.
fn short_message(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|line| line.strip_prefix("error: "))
        .map_or_else(|| text.replace('\n', " "), str::to_owned)
}

/// Go's `Regexp.ReplaceAllString`. Empty matches right after a match are skipped by both engines'
/// iterators, so only the template expansion needs Go's rules.
fn replace_all(re: &Regex, text: &str, template: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for caps in re.captures_iter(text) {
        let Some(whole) = caps.get(0) else { continue };
        out.push_str(&text[last..whole.start()]);
        expand(&caps, template, &mut out);
        last = whole.end();
    }
    out.push_str(&text[last..]);
    out
}

/// Go's `Regexp.Expand` for one match.
fn expand(caps: &Captures<'_>, template: &str, out: &mut String) {
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        rest = &rest[dollar + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        match reference(rest) {
            Some((name, after)) => {
                if let Some(m) = group(caps, name) {
                    out.push_str(m.as_str());
                }
                rest = after;
            }
            // Malformed: the `$` is kept as text.
            None => out.push('$'),
        }
    }
    out.push_str(rest);
}

/// The group name after a `$` (`name` or `{name}`) and the text after it.
fn reference(s: &str) -> Option<(&str, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(body) => (true, body),
        None => (false, s),
    };
    let end = body
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let (name, after) = body.split_at(end);
    if braced {
        return Some((name, after.strip_prefix('}')?));
    }
    Some((name, after))
}

/// A group by number (ASCII digits, no leading zero, as Go) or else by name.
fn group<'h>(caps: &Captures<'h>, name: &str) -> Option<regex::Match<'h>> {
    let numeric =
        name.bytes().all(|b| b.is_ascii_digit()) && (name == "0" || !name.starts_with('0'));
    if numeric {
        caps.get(name.parse().ok()?)
    } else {
        caps.name(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(source: &str, target: &str) -> Rewrite {
        Rewrite::Regexp {
            source: source.to_owned(),
            target: target.to_owned(),
        }
    }

    fn map(keys: &[&str]) -> BTreeMap<String, String> {
        keys.iter()
            .map(|k| ((*k).to_owned(), format!("s3cr3t-value-of-{k}")))
            .collect()
    }

    fn keys(m: &BTreeMap<String, String>) -> Vec<&str> {
        m.keys().map(String::as_str).collect()
    }

    fn one(source: &str, target: &str, key: &str) -> String {
        let out = apply(map(&[key]), &[re(source, target)]).unwrap();
        out.into_keys().next().unwrap()
    }

    #[test]
    fn replaces_every_match_and_keeps_values() {
        let out = apply(map(&["team/db/user", "team/db/pass"]), &[re("/", "_")]).unwrap();
        assert_eq!(keys(&out), ["team_db_pass", "team_db_user"]);
        assert_eq!(out["team_db_user"], "s3cr3t-value-of-team/db/user");
    }

    #[test]
    fn rewrites_apply_in_order() {
        let rewrites = [re("^prod/", ""), re("/", "-"), re("^(.*)$", "app-$1")];
        let out = apply(map(&["prod/db/user", "prod/api"]), &rewrites).unwrap();
        assert_eq!(keys(&out), ["app-api", "app-db-user"]);
        assert!(apply(map(&["a"]), &[]).unwrap().contains_key("a"));
    }

    #[test]
    fn go_template_expansion() {
        assert_eq!(one("^(\\w+)-(\\w+)$", "${2}_$1", "db-user"), "user_db");
        // Go reads `$2_` as the group named "2_": nothing.
        assert_eq!(one("^(\\w+)-(\\w+)$", "$2_$1", "db-user"), "db");
        assert_eq!(one("^(\\w+)-(\\w+)$", "${2}a", "db-user"), "usera");
        // `$1a` is the group named "1a": it does not exist, so nothing.
        assert_eq!(one("^(\\w+)-(\\w+)$", "$1a.", "db-user"), ".");
        assert_eq!(
            one("^(?P<svc>\\w+)-(?<field>\\w+)$", "${field}.$svc", "db-user"),
            "user.db"
        );
        assert_eq!(one("^(\\w+)$", "$$1-$$", "key"), "$1-$");
        assert_eq!(one("^(\\w+)$", "a$-b${x", "key"), "a$-b${x");
        assert_eq!(one("^(\\w+)$", "[$0][$9][$01]", "key"), "[key][][]");
        assert_eq!(one("^(a)?(b)$", "<$1>", "b"), "<>");
        assert_eq!(one("(?P<ünï>k)", "$ünï!", "k"), "k!");
    }

    #[test]
    fn empty_matches_follow_go() {
        // Go: regexp.MustCompile("a*").ReplaceAllString("baaac", "X") == "XbXcX".
        assert_eq!(one("a*", "X", "baaac"), "XbXcX");
        assert_eq!(one("", "-", "abc"), "-a-b-c-");
    }

    #[test]
    fn invalid_regexp_names_the_rewrite() {
        let e = apply(map(&["a"]), &[re("x", "y"), re("(unclosed", "y")]).unwrap_err();
        assert_eq!(e.reason(), "invalid_rewrite");
        let msg = e.to_string();
        assert!(
            msg.contains("rewrite[1]") && msg.contains("(unclosed"),
            "{msg}"
        );
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn collisions_are_counted_not_named() {
        let e = apply(map(&["a/b", "a_b", "c"]), &[re("/", "_")]).unwrap_err();
        assert_eq!(e.reason(), "rewrite_collision");
        assert_eq!(
            e.to_string(),
            "rewrite[0] (regexp \"/\"): two keys rewrite to the same name (3 keys in all)"
        );
        let e = apply(map(&["x1", "x2"]), &[re("^x", ""), re("\\d", "n")]).unwrap_err();
        assert!(e.to_string().starts_with("rewrite[1] "), "{e}");
        let e = apply_entry(
            2,
            map(&["a1", "a2", "a3", "b1", "b2", "c"]),
            &[re("\\d", "")],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "dataFrom[2].rewrite[0] (regexp \"\\\\d\"): 5 of 6 keys rewrite to a name that \
             another key also gets"
        );
    }

    #[test]
    fn empty_keys_are_counted_not_named() {
        let e = apply(map(&["drop-me", "keep"]), &[re("^drop-me$", "")]).unwrap_err();
        assert_eq!(e.reason(), "rewrite_empty_key");
        assert_eq!(
            e.to_string(),
            "rewrite[0] (regexp \"^drop-me$\"): 1 of 2 keys rewrite to an empty name"
        );
        let e = apply_entry(0, map(&["a", "b"]), &[re("x", "y"), re(".*", "")]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("dataFrom[0].rewrite[1] (regexp \".*\"): 2 of 2 keys"),
            "{e}"
        );
    }

    #[test]
    fn invalid_regexp_names_the_entry_when_known() {
        let e = apply_entry(3, map(&["a"]), &[re("[z-a]", "y")]).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("dataFrom[3].rewrite[0]: invalid regexp \"[z-a]\": "),
            "{msg}"
        );
    }
}
