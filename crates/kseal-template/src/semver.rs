//! sprig's `semver` and `semverCompare`, with the semantics of Masterminds/semver v3.4.0 (what sprig
//! v3.3.0 resolves to): loose version parsing ("v1.2", "1", prerelease and build metadata), its
//! ordering, and its constraint language (`=`, `!=`, `>`, `<`, `>=`, `<=`, `~`, `^`, `x`/`X`/`*`
//! wildcards, `1.2 - 1.4.5` ranges, `,` or space for AND, `||` for OR), including its rule that a
//! prerelease version satisfies a constraint only when that part of the constraint names a prerelease.
//!
//! The grammar is matched with regular expressions of the same shape as the library's, so the corner
//! cases (what is accepted, what an operator binds to) come out the same. Errors never quote the input.

use std::cmp::Ordering;
use std::sync::OnceLock;

use regex::Regex;

/// A parsed version (the library's `*semver.Version`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Version {
    pub(crate) major: u64,
    pub(crate) minor: u64,
    pub(crate) patch: u64,
    pub(crate) pre: String,
    pub(crate) metadata: String,
    pub(crate) original: String,
    /// A `*Version` (what `semver` returns) rather than a `Version` (what `IncMajor` and the setters
    /// return): only the pointer has the methods with pointer receivers (`Original`, `Compare`, ...).
    pub(crate) pointer: bool,
}

/// Why a version or constraint was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SemverError {
    InvalidVersion,
    InvalidPrerelease,
    InvalidMetadata,
    SegmentStartsZero,
    SegmentTooLarge,
    ImproperConstraint,
}

impl std::fmt::Display for SemverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SemverError::InvalidVersion => "invalid semantic version",
            SemverError::InvalidPrerelease => "invalid prerelease string",
            SemverError::InvalidMetadata => "invalid metadata string",
            SemverError::SegmentStartsZero => "version segment starts with 0",
            SemverError::SegmentTooLarge => "error parsing version segment: value out of range",
            SemverError::ImproperConstraint => "improper constraint",
        })
    }
}

const IDENT: &str = r"[0-9A-Za-z\-]+(?:\.[0-9A-Za-z\-]+)*";
/// Go's `\s`.
const S: &str = r"[\t\n\x0C\r ]";
/// The operators, in the library's order (leftmost-first alternation decides what `>=` binds to).
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";

fn cv() -> String {
    // A version in a constraint: 9 groups (major, .minor, .patch, -pre, pre, pre tail, +meta, meta,
    // meta tail); `|` is in the wildcard class as it is in the library's.
    r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?".to_owned()
}

struct Regexes {
    loose: Regex,
    constraint: Regex,
    range: Regex,
    find: Regex,
    valid: Regex,
}

fn regexes() -> &'static Regexes {
    static R: OnceLock<Regexes> = OnceLock::new();
    R.get_or_init(|| {
        let cv = cv();
        let re = |s: String| Regex::new(&s).expect("the semver grammar compiles");
        Regexes {
            loose: re(format!(
                r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(?:-({IDENT}))?(?:\+({IDENT}))?$"
            )),
            constraint: re(format!(r"^{S}*({OPS}){S}*({cv}){S}*$")),
            range: re(format!(r"{S}*({cv}){S}+-{S}+({cv}){S}*")),
            find: re(format!(r"({OPS}){S}*({cv})")),
            valid: re(format!(
                r"^({S}*({OPS}){S}*({cv}){S}*)((?:{S}+|,{S}*)({OPS}){S}*({cv}){S}*)*$"
            )),
        }
    })
}

fn all_in(s: &str, extra: &[u8]) -> bool {
    s.bytes()
        .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
}

fn validate_prerelease(p: &str) -> Result<(), SemverError> {
    for part in p.split('.') {
        if part.is_empty() {
            return Err(SemverError::InvalidPrerelease);
        } else if part.bytes().all(|c| c.is_ascii_digit()) {
            if part.len() > 1 && part.starts_with('0') {
                return Err(SemverError::SegmentStartsZero);
            }
        } else if !all_in(part, b"-") {
            return Err(SemverError::InvalidPrerelease);
        }
    }
    Ok(())
}

fn validate_metadata(m: &str) -> Result<(), SemverError> {
    if m.split('.').any(|p| p.is_empty() || !all_in(p, b"-")) {
        return Err(SemverError::InvalidMetadata);
    }
    Ok(())
}

fn segment(s: Option<regex::Match<'_>>) -> Result<u64, SemverError> {
    match s {
        None => Ok(0),
        Some(m) => m
            .as_str()
            .trim_start_matches('.')
            .parse()
            .map_err(|_| SemverError::SegmentTooLarge),
    }
}

impl Version {
    /// The library's `NewVersion` (loose: a `v` prefix, missing minor or patch, leading zeros).
    pub(crate) fn parse(v: &str) -> Result<Version, SemverError> {
        let m = regexes()
            .loose
            .captures(v)
            .ok_or(SemverError::InvalidVersion)?;
        let pre = m.get(4).map_or("", |g| g.as_str()).to_owned();
        let metadata = m.get(5).map_or("", |g| g.as_str()).to_owned();
        let version = Version {
            major: segment(m.get(1))?,
            minor: segment(m.get(2))?,
            patch: segment(m.get(3))?,
            pre,
            metadata,
            original: v.to_owned(),
            pointer: true,
        };
        if !version.pre.is_empty() {
            validate_prerelease(&version.pre)?;
        }
        if !version.metadata.is_empty() {
            validate_metadata(&version.metadata)?;
        }
        Ok(version)
    }

    /// `Version.String`: `MAJOR.MINOR.PATCH[-pre][+metadata]`, without the original `v`.
    pub(crate) fn text(&self) -> String {
        let mut s = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if !self.pre.is_empty() {
            s.push('-');
            s.push_str(&self.pre);
        }
        if !self.metadata.is_empty() {
            s.push('+');
            s.push_str(&self.metadata);
        }
        s
    }

    fn v_prefix(&self) -> &'static str {
        if self.original.starts_with('v') {
            "v"
        } else {
            ""
        }
    }

    fn renamed(mut self, prefix: &str) -> Version {
        self.original = format!("{prefix}{}", self.text());
        self.pointer = false;
        self
    }

    /// `IncMajor`, `IncMinor`, `IncPatch`.
    pub(crate) fn inc(&self, what: &str) -> Version {
        let mut next = self.clone();
        let had_pre = !next.pre.is_empty();
        next.pre.clear();
        next.metadata.clear();
        match what {
            "major" => {
                next.major = next.major.wrapping_add(1);
                next.minor = 0;
                next.patch = 0;
            }
            "minor" => {
                next.minor = next.minor.wrapping_add(1);
                next.patch = 0;
            }
            _ if had_pre => {}
            _ => next.patch = next.patch.wrapping_add(1),
        }
        next.renamed(self.v_prefix())
    }

    /// `SetPrerelease` / `SetMetadata`.
    pub(crate) fn with_part(&self, metadata: bool, part: &str) -> Result<Version, SemverError> {
        let mut next = self.clone();
        if metadata {
            if !part.is_empty() {
                validate_metadata(part)?;
            }
            next.metadata = part.to_owned();
        } else {
            if !part.is_empty() {
                validate_prerelease(part)?;
            }
            next.pre = part.to_owned();
        }
        Ok(next.renamed(self.v_prefix()))
    }

    /// `Version.Compare`: precedence, metadata ignored.
    pub(crate) fn compare(&self, o: &Version) -> Ordering {
        self.major
            .cmp(&o.major)
            .then(self.minor.cmp(&o.minor))
            .then(self.patch.cmp(&o.patch))
            .then_with(|| match (self.pre.is_empty(), o.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_prerelease(&self.pre, &o.pre),
            })
    }
}

fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let (sa, sb): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for i in 0..sa.len().max(sb.len()) {
        let d = compare_pre_part(
            sa.get(i).copied().unwrap_or(""),
            sb.get(i).copied().unwrap_or(""),
        );
        if d != Ordering::Equal {
            return d;
        }
    }
    Ordering::Equal
}

fn compare_pre_part(s: &str, o: &str) -> Ordering {
    if s == o {
        return Ordering::Equal;
    }
    if s.is_empty() {
        return Ordering::Less;
    }
    if o.is_empty() {
        return Ordering::Greater;
    }
    match (s.parse::<u64>(), o.parse::<u64>()) {
        (Err(_), Err(_)) => {
            if s > o {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Ok(a), Ok(b)) => {
            if a > b {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
    }
}

/// One comparison of a constraint.
#[derive(Debug)]
struct Constraint {
    con: Version,
    op: String,
    minor_dirty: bool,
    patch_dirty: bool,
    dirty: bool,
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

impl Constraint {
    fn parse(c: &str) -> Result<Constraint, SemverError> {
        let m = regexes()
            .constraint
            .captures(c)
            .ok_or(SemverError::ImproperConstraint)?;
        let g = |i: usize| m.get(i).map_or("", |g| g.as_str());
        let (major, minor, patch, pre) = (g(3), g(4), g(5), g(6));
        let (mut minor_dirty, mut patch_dirty, mut dirty) = (false, false, false);
        let ver = if is_x(major) || major.is_empty() {
            dirty = true;
            format!("0.0.0{pre}")
        } else if is_x(minor.trim_start_matches('.')) || minor.is_empty() {
            minor_dirty = true;
            dirty = true;
            format!("{major}.0.0{pre}")
        } else if is_x(patch.trim_start_matches('.')) || patch.is_empty() {
            dirty = true;
            patch_dirty = true;
            format!("{major}{minor}.0{pre}")
        } else {
            g(2).to_owned()
        };
        let con = Version::parse(&ver).map_err(|_| SemverError::ImproperConstraint)?;
        Ok(Constraint {
            con,
            op: g(1).to_owned(),
            minor_dirty,
            patch_dirty,
            dirty,
        })
    }

    fn check(&self, v: &Version, include_pre: bool) -> bool {
        if !v.pre.is_empty() && !include_pre {
            return false;
        }
        let c = &self.con;
        match self.op.as_str() {
            "" | "=" => {
                if self.dirty {
                    self.tilde(v)
                } else {
                    v.compare(c) == Ordering::Equal
                }
            }
            "!=" => {
                if self.dirty {
                    if c.major != v.major {
                        return true;
                    }
                    if c.minor != v.minor && !self.minor_dirty {
                        return true;
                    } else if self.minor_dirty {
                        return false;
                    } else if c.patch != v.patch && !self.patch_dirty {
                        return true;
                    } else if self.patch_dirty {
                        if !v.pre.is_empty() || !c.pre.is_empty() {
                            return compare_prerelease(&v.pre, &c.pre) != Ordering::Equal;
                        }
                        return false;
                    }
                }
                v.compare(c) != Ordering::Equal
            }
            ">" => {
                if !self.dirty {
                    return v.compare(c) == Ordering::Greater;
                }
                if v.major > c.major {
                    true
                } else if v.major < c.major || self.minor_dirty {
                    false
                } else if self.patch_dirty {
                    v.minor > c.minor
                } else {
                    v.compare(c) == Ordering::Greater
                }
            }
            "<" => v.compare(c) == Ordering::Less,
            ">=" | "=>" => v.compare(c) != Ordering::Less,
            "<=" | "=<" => {
                if !self.dirty {
                    return v.compare(c) != Ordering::Greater;
                }
                !(v.major > c.major || v.major == c.major && v.minor > c.minor && !self.minor_dirty)
            }
            "~" | "~>" => self.tilde(v),
            "^" => {
                if v.compare(c) == Ordering::Less {
                    return false;
                }
                if c.major > 0 || self.minor_dirty {
                    return v.major == c.major;
                }
                if v.major > 0 {
                    return false;
                }
                if c.minor > 0 || self.patch_dirty {
                    return v.minor == c.minor;
                }
                if v.minor > 0 {
                    return false;
                }
                c.patch == v.patch
            }
            _ => false,
        }
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.compare(c) == Ordering::Less {
            return false;
        }
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        if v.major != c.major {
            return false;
        }
        v.minor == c.minor || self.minor_dirty
    }
}

/// Rewrites each `A - B` range as `>= A, <= B `, as the library does before parsing.
fn rewrite_range(s: &str) -> String {
    let r = &regexes().range;
    let mut out = s.to_owned();
    for m in r.captures_iter(s) {
        let whole = m.get(0).map_or("", |g| g.as_str());
        let (a, b) = (
            m.get(1).map_or("", |g| g.as_str()),
            m.get(11).map_or("", |g| g.as_str()),
        );
        out = out.replacen(whole, &format!(">= {a}, <= {b} "), 1);
    }
    out
}

/// How many `A - B` ranges `c` has: each is rewritten by a pass over the whole text, so parsing costs
/// about the text's length times this plus one.
pub(crate) fn range_count(c: &str) -> usize {
    regexes().range.find_iter(c).count()
}

/// A parsed constraint: OR of ANDs, and whether each AND names a prerelease.
pub(crate) struct Constraints {
    groups: Vec<(Vec<Constraint>, bool)>,
}

impl Constraints {
    /// The library's `NewConstraint`.
    pub(crate) fn parse(c: &str) -> Result<Constraints, SemverError> {
        let c = rewrite_range(c);
        let r = regexes();
        let mut groups = Vec::new();
        for part in c.split("||") {
            if !r.valid.is_match(part) {
                return Err(SemverError::ImproperConstraint);
            }
            let mut found: Vec<&str> = r.find.find_iter(part).map(|m| m.as_str()).collect();
            if found.is_empty() {
                found.push(part);
            }
            let mut and = Vec::with_capacity(found.len());
            let mut has_pre = false;
            for s in found {
                let pc = Constraint::parse(s)?;
                has_pre |= !pc.con.pre.is_empty();
                and.push(pc);
            }
            groups.push((and, has_pre));
        }
        Ok(Constraints { groups })
    }

    /// `Constraints.Check`.
    pub(crate) fn check(&self, v: &Version) -> bool {
        self.groups
            .iter()
            .any(|(and, pre)| and.iter().all(|c| c.check(v, *pre)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(c: &str, v: &str) -> bool {
        Constraints::parse(c)
            .unwrap()
            .check(&Version::parse(v).unwrap())
    }

    #[test]
    fn versions() {
        let v = Version::parse("v1.2-rc.1+b5").unwrap();
        assert_eq!(v.text(), "1.2.0-rc.1+b5");
        assert_eq!((v.major, v.minor, v.patch), (1, 2, 0));
        assert_eq!(Version::parse("01.2.3").unwrap().text(), "1.2.3");
        assert_eq!(
            Version::parse("1.2.3-01"),
            Err(SemverError::SegmentStartsZero)
        );
        assert!(Version::parse("1.2.3.4").is_err());
        assert!(Version::parse("").is_err());
        assert!(Version::parse("99999999999999999999").is_err());
        assert_eq!(
            Version::parse("v1.2.3-beta").unwrap().inc("patch").original,
            "v1.2.3"
        );
        let order = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0",
        ];
        for w in order.windows(2) {
            let (a, b) = (Version::parse(w[0]).unwrap(), Version::parse(w[1]).unwrap());
            assert_eq!(a.compare(&b), Ordering::Less, "{} < {}", w[0], w[1]);
        }
    }

    #[test]
    fn constraints() {
        assert!(check(">=1.2.0", "1.3.0"));
        assert!(!check(">=1.2.0", "1.3.0-rc.1"));
        assert!(check(">=1.2.0-0", "1.3.0-rc.1"));
        assert!(check("^1.2", "1.9.9"));
        assert!(!check("^1.2", "2.0.0"));
        assert!(check("^0.2.3", "0.2.9"));
        assert!(!check("^0.2.3", "0.3.0"));
        assert!(check("~1.2.3", "1.2.9"));
        assert!(!check("~1.2.3", "1.3.0"));
        assert!(check("1.2 - 1.4.5", "1.4.5"));
        assert!(!check("1.2 - 1.4.5", "1.4.6"));
        assert!(check("<1 || >=3", "3.1.0"));
        assert!(check(">1.0, <2", "1.5.0"));
        assert!(check(">1.0 <2", "1.5.0"));
        assert!(check("1.x", "1.7.0"));
        assert!(check("!=1.2.x", "1.3.0"));
        assert!(!check("!=1.2.x", "1.2.7"));
        assert!(check("*", "4.0.0"));
        assert!(!check("*", "4.0.0-rc"));
        assert!(Constraints::parse("").is_err());
        assert!(Constraints::parse(">>1").is_err());
        assert!(Constraints::parse("1|2").is_err());
    }
}
