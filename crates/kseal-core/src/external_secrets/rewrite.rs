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
//! error naming the rewrite.
//!
//! A `transform` rewrite renders its Go template once per key with `.value` set to the key (ESO's
//! functions, Go's default missing-key behaviour); the output is the new key. A `merge` rewrite
//! parses every value as a JSON object and merges them in key order, the `priority` keys last in
//! their order (so they win); strategy `Extract` makes each merged member a key, strategy `JSON` adds
//! the merged object as key `into` beside the keys it merged. Both follow ESO's `utils.RewriteMap`;
//! they report collisions and empty keys like `regexp`.

use std::collections::BTreeMap;

use kseal_api::external_secrets::{
    ExternalSecretRewrite, MergeConflictPolicy, MergePriorityPolicy, MergeStrategy, RewriteMerge,
};
use regex::{Captures, Regex};
use zeroize::Zeroizing;

/// Keys and their values, as rewrites take and give them.
pub type Map = BTreeMap<String, Zeroizing<Vec<u8>>>;

/// One `dataFrom[].rewrite[]` entry.
#[derive(Clone, Debug, PartialEq)]
pub enum Rewrite {
    /// `regexp: {source, target}`: replace every match of `source` in the key with `target`.
    Regexp {
        /// The regular expression (RE2 syntax).
        source: String,
        /// The replacement, with Go's `$` expansion.
        target: String,
    },
    /// `transform: {template}`: the key becomes what the template renders with `.value` the key.
    Transform {
        /// The Go template.
        template: String,
    },
    /// `merge`: the values, JSON objects, merged into one.
    Merge(RewriteMerge),
}

impl Rewrite {
    /// The rewrites of a `dataFrom` entry as the manifest lists them (an entry with none of the
    /// three fields does nothing, as in ESO).
    pub fn list(rewrites: &[ExternalSecretRewrite]) -> Vec<Rewrite> {
        rewrites
            .iter()
            .filter_map(|r| {
                if let Some(merge) = &r.merge {
                    Some(Rewrite::Merge(merge.clone()))
                } else if let Some(regexp) = &r.regexp {
                    Some(Rewrite::Regexp {
                        source: regexp.source.clone(),
                        target: regexp.target.clone(),
                    })
                } else {
                    r.transform.as_ref().map(|t| Rewrite::Transform {
                        template: t.template.clone(),
                    })
                }
            })
            .collect()
    }
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
        "{} ({what}): {}",
        at(*.entry, *.index),
        collision_message(*.colliding, *.total)
    )]
    Collision {
        /// Position of the entry in `spec.dataFrom`, when the caller said.
        entry: Option<usize>,
        /// Position in the `rewrite` list.
        index: usize,
        /// Which rewrite: `regexp "<source>"` or `transform`.
        what: String,
        /// How many keys share their new name with another key.
        colliding: usize,
        /// How many keys the rewrite saw.
        total: usize,
    },
    /// Keys became empty.
    #[error(
        "{} ({what}): {empty} of {total} keys rewrite to an empty name",
        at(*.entry, *.index)
    )]
    EmptyKey {
        /// Position of the entry in `spec.dataFrom`, when the caller said.
        entry: Option<usize>,
        /// Position in the `rewrite` list.
        index: usize,
        /// Which rewrite: `regexp "<source>"` or `transform`.
        what: String,
        /// How many keys became empty.
        empty: usize,
        /// How many keys the rewrite saw.
        total: usize,
    },
    /// A `transform` template failed to parse or render (the engine's messages never hold a value,
    /// nor the key being transformed).
    #[error("{} (transform): {source}", at(*.entry, *.index))]
    Transform {
        /// Position of the entry in `spec.dataFrom`, when the caller said.
        entry: Option<usize>,
        /// Position in the `rewrite` list.
        index: usize,
        /// The engine's error.
        source: kseal_template::Error,
    },
    /// A `merge` failed.
    #[error("{} (merge): {message}", at(*.entry, *.index))]
    Merge {
        /// Position of the entry in `spec.dataFrom`, when the caller said.
        entry: Option<usize>,
        /// Position in the `rewrite` list.
        index: usize,
        /// What failed (names manifest text only: `into`, a `priority` key).
        message: String,
    },
}

impl Error {
    /// Short stable label, e.g. for metrics and condition reasons.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidRegexp { .. } => "invalid_rewrite",
            Error::Collision { .. } => "rewrite_collision",
            Error::EmptyKey { .. } => "rewrite_empty_key",
            Error::Transform { .. } => "rewrite_transform",
            Error::Merge { .. } => "rewrite_merge",
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

/// Applies `rewrites` in order to every key of `map`; `regexp` and `transform` move the values
/// without reading them, `merge` parses them. Errors name the rewrite as `rewrite[i]`;
/// [`apply_entry`] also names the `dataFrom` entry.
pub fn apply(map: Map, rewrites: &[Rewrite]) -> Result<Map, Error> {
    apply_in(None, map, rewrites)
}

/// [`apply`] for the rewrites of `spec.dataFrom[entry]`: errors name `dataFrom[entry].rewrite[i]`.
pub fn apply_entry(entry: usize, map: Map, rewrites: &[Rewrite]) -> Result<Map, Error> {
    apply_in(Some(entry), map, rewrites)
}

fn apply_in(entry: Option<usize>, map: Map, rewrites: &[Rewrite]) -> Result<Map, Error> {
    rewrites
        .iter()
        .enumerate()
        .try_fold(map, |map, (index, rewrite)| match rewrite {
            Rewrite::Regexp { source, target } => {
                let re = Regex::new(source).map_err(|e| Error::InvalidRegexp {
                    entry,
                    index,
                    pattern: source.clone(),
                    message: short_message(&e),
                })?;
                rename(entry, index, &format!("regexp {source:?}"), map, |key| {
                    Ok(replace_all(&re, key, target))
                })
            }
            Rewrite::Transform { template } => {
                kseal_template::validate("transform", template).map_err(|source| {
                    Error::Transform {
                        entry,
                        index,
                        source,
                    }
                })?;
                rename(entry, index, "transform", map, |key| {
                    transform(template, key).map_err(|source| Error::Transform {
                        entry,
                        index,
                        source,
                    })
                })
            }
            Rewrite::Merge(merge) => merge_values(entry, index, merge, map),
        })
}

/// What a `transform` template renders for `key` (a fresh budget per key: the key set is bounded by
/// what the provider returned).
fn transform(template: &str, key: &str) -> Result<String, kseal_template::Error> {
    let dot = BTreeMap::from([("value".to_owned(), key.as_bytes().to_vec())]);
    let mut renderer =
        kseal_template::Renderer::with_flavour(&dot, kseal_template::Flavour::EsoTransform);
    let out = renderer.render("transform", template)?;
    // Keys are text: Go's string conversion of the output replaces nothing, but a Secret key must be
    // valid anyway, which the caller checks.
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// ESO's `RewriteMerge`.
fn merge_values(
    entry: Option<usize>,
    index: usize,
    merge: &RewriteMerge,
    map: Map,
) -> Result<Map, Error> {
    let fail = |message: String| Error::Merge {
        entry,
        index,
        message,
    };
    // The keys in order, the priority keys last in their own order.
    let mut order: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| !merge.priority.iter().any(|p| p == k))
        .collect();
    order.extend(merge.priority.iter().map(String::as_str));
    let mut merged = kseal_template::Merged::new();
    let mut not_objects = 0;
    for key in order {
        let Some(value) = map.get(key) else {
            if merge.priority_policy.unwrap_or_default() == MergePriorityPolicy::IgnoreNotFound {
                continue;
            }
            // Only a priority key can be missing: manifest text.
            return Err(fail(format!(
                "priority key {key:?} is not in the data (priorityPolicy Strict; IgnoreNotFound skips it)"
            )));
        };
        match merged.add(value) {
            Ok(()) => {}
            Err(kseal_template::MergeError::NotAnObject) => not_objects += 1,
            Err(error) => return Err(fail(error.to_string())),
        }
    }
    if not_objects > 0 {
        return Err(fail(format!(
            "{not_objects} of {} values are not JSON objects",
            map.len()
        )));
    }
    if merge.conflict_policy.unwrap_or_default() == MergeConflictPolicy::Error
        && merged.conflicts() > 0
    {
        return Err(fail(format!(
            "{} members are in more than one of the merged objects (conflictPolicy Error; Ignore lets the later one win)",
            merged.conflicts()
        )));
    }
    match merge.strategy.unwrap_or_default() {
        MergeStrategy::Extract => merged.into_members().map_err(|e| fail(e.to_string())),
        MergeStrategy::Json => {
            let into = merge
                .into
                .as_deref()
                .filter(|into| !into.is_empty())
                .ok_or_else(|| {
                    fail("strategy JSON needs `into`, the key of the merged object".into())
                })?;
            let json = merged.to_json().map_err(|e| fail(e.to_string()))?;
            let mut out = map;
            out.insert(into.to_owned(), json);
            Ok(out)
        }
    }
}

/// Renames every key of `map` with `new_name`; `what` names the rewrite in errors.
fn rename(
    entry: Option<usize>,
    index: usize,
    what: &str,
    map: Map,
    mut new_name: impl FnMut(&str) -> Result<String, Error>,
) -> Result<Map, Error> {
    let total = map.len();
    let mut out = BTreeMap::new();
    let mut empty = 0;
    // How many keys got each new name (only counted once a name is shared).
    let mut shared: BTreeMap<String, usize> = BTreeMap::new();
    for (original, value) in map {
        let key = new_name(&original)?;
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
            what: what.to_owned(),
            empty,
            total,
        });
    }
    if colliding > 0 {
        return Err(Error::Collision {
            entry,
            index,
            what: what.to_owned(),
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

    fn map(keys: &[&str]) -> Map {
        keys.iter()
            .map(|k| {
                let value = format!("s3cr3t-value-of-{k}");
                ((*k).to_owned(), Zeroizing::new(value.into_bytes()))
            })
            .collect()
    }

    fn keys(m: &Map) -> Vec<&str> {
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
        assert_eq!(
            out["team_db_user"].as_slice(),
            b"s3cr3t-value-of-team/db/user"
        );
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

    fn text(m: &Map) -> BTreeMap<&str, &str> {
        m.iter()
            .map(|(k, v)| (k.as_str(), std::str::from_utf8(v).unwrap()))
            .collect()
    }

    fn transform(template: &str) -> Rewrite {
        Rewrite::Transform {
            template: template.to_owned(),
        }
    }

    #[test]
    fn transform_renders_each_key_with_esos_functions() {
        let out = apply(
            map(&["db-user", "db-pass"]),
            &[transform("{{ .value | upper | replace \"-\" \"_\" }}")],
        )
        .unwrap();
        assert_eq!(keys(&out), ["DB_PASS", "DB_USER"]);
        assert_eq!(out["DB_USER"].as_slice(), b"s3cr3t-value-of-db-user");
        // Go's default missing-key behaviour, not an error.
        let out = apply(map(&["k"]), &[transform("{{ .value }}-{{ .other }}")]).unwrap();
        assert_eq!(keys(&out), ["k-<no value>"]);
    }

    #[test]
    fn transform_errors_name_the_rewrite_never_a_key() {
        let e = apply_entry(
            1,
            map(&["s3cr3t-key"]),
            &[transform("{{ .value | nosuch }}")],
        )
        .unwrap_err();
        assert_eq!(e.reason(), "rewrite_transform");
        let msg = e.to_string();
        assert!(
            msg.starts_with("dataFrom[1].rewrite[0] (transform): "),
            "{msg}"
        );
        assert!(!msg.contains("s3cr3t"), "{msg}");
        let e = apply(map(&["a", "b"]), &[transform("same")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "rewrite[0] (transform): two keys rewrite to the same name (2 keys in all)"
        );
    }

    fn merge(strategy: MergeStrategy, priority: &[&str]) -> RewriteMerge {
        RewriteMerge {
            into: Some("all".into()),
            priority: priority.iter().map(|p| (*p).to_owned()).collect(),
            strategy: Some(strategy),
            ..RewriteMerge::default()
        }
    }

    fn json_map(entries: &[(&str, &str)]) -> Map {
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Zeroizing::new(v.as_bytes().to_vec())))
            .collect()
    }

    #[test]
    fn merge_extracts_members_with_priority_keys_last() {
        let input = json_map(&[("a", r#"{"user":"a","x":"1"}"#), ("b", r#"{"user":"b"}"#)]);
        let mut rule = merge(MergeStrategy::Extract, &["a"]);
        rule.conflict_policy = Some(MergeConflictPolicy::Ignore);
        let out = apply(input.clone(), &[Rewrite::Merge(rule)]).unwrap();
        assert_eq!(text(&out), BTreeMap::from([("user", "a"), ("x", "1")]));
        // Conflicts are an error by default, counted not named.
        let e = apply(input, &[Rewrite::Merge(merge(MergeStrategy::Extract, &[]))]).unwrap_err();
        assert_eq!(e.reason(), "rewrite_merge");
        assert!(
            e.to_string().contains("1 members are in more than one"),
            "{e}"
        );
        assert!(!e.to_string().contains("user"), "{e}");
    }

    #[test]
    fn merge_json_adds_the_merged_object_beside_the_keys() {
        let input = json_map(&[("a", r#"{"p":1}"#), ("b", r#"{"q":"<"}"#)]);
        let out = apply(input, &[Rewrite::Merge(merge(MergeStrategy::Json, &[]))]).unwrap();
        assert_eq!(
            text(&out),
            BTreeMap::from([
                ("a", r#"{"p":1}"#),
                ("all", r#"{"p":1,"q":"<"}"#),
                ("b", r#"{"q":"<"}"#)
            ])
        );
        let mut no_into = merge(MergeStrategy::Json, &[]);
        no_into.into = None;
        let e = apply(json_map(&[("a", "{}")]), &[Rewrite::Merge(no_into)]).unwrap_err();
        assert!(e.to_string().contains("needs `into`"), "{e}");
    }

    #[test]
    fn merge_priority_keys_must_exist_unless_told() {
        let input = json_map(&[("a", r#"{"p":"1"}"#)]);
        let e = apply(
            input.clone(),
            &[Rewrite::Merge(merge(MergeStrategy::Extract, &["gone"]))],
        )
        .unwrap_err();
        assert!(e.to_string().contains("priority key \"gone\""), "{e}");
        let mut lenient = merge(MergeStrategy::Extract, &["gone"]);
        lenient.priority_policy = Some(MergePriorityPolicy::IgnoreNotFound);
        assert_eq!(
            text(&apply(input, &[Rewrite::Merge(lenient)]).unwrap()),
            BTreeMap::from([("p", "1")])
        );
        let e = apply(
            json_map(&[("a", "s3cr3t")]),
            &[Rewrite::Merge(merge(MergeStrategy::Extract, &[]))],
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("1 of 1 values are not JSON objects"),
            "{e}"
        );
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
    }
}
