//! JSON objects merged member by member, with Go's `encoding/json` semantics: what ESO's
//! `dataFrom[].rewrite[].merge` does with the values of the keys it merges.
//!
//! Each value is parsed as Go's `json.Unmarshal` into `map[string]any` would (numbers become
//! `float64`, a later duplicate member wins); members of later objects replace earlier ones, and
//! each replaced member counts as a conflict. The result is read back either as one key per member
//! ([`Merged::into_members`]: a string is its text, a number as Go's `strconv.FormatFloat(f, 'f', -1)`
//! writes it, an object or list as `json.Marshal` writes it) or as one JSON document
//! ([`Merged::to_json`], Go's encoder without HTML escaping). Parsing is bounded like `fromJson` in a
//! template, and nothing here ever puts a value or member name in an error.

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use crate::budget::Budget;
use crate::convert::{from_json, go_json};
use crate::value::{Value, ValueError};

/// Why a merge failed (never naming a value or a member).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// A value is not a JSON object.
    #[error("the value is not a JSON object")]
    NotAnObject,
    /// The values are larger or deeper than a merge may take.
    #[error(
        "the values are too large to merge (at most {} bytes of output)",
        crate::MAX_VALUE_BYTES
    )]
    TooLarge,
    /// A merged member cannot be written back (e.g. binary text).
    #[error("a merged member cannot be written as JSON")]
    Unwritable,
}

/// Objects merged so far.
#[derive(Default)]
pub struct Merged {
    members: BTreeMap<String, Value>,
    conflicts: usize,
    budget: Budget,
}

impl std::fmt::Debug for Merged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Merged")
            .field("members", &self.members.len())
            .field("conflicts", &self.conflicts)
            .finish()
    }
}

impl Merged {
    /// Nothing merged yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Merges the JSON object `json` over what is there.
    pub fn add(&mut self, json: &[u8]) -> Result<(), MergeError> {
        // Go replaces invalid UTF-8 by U+FFFD when it decodes.
        let text = Zeroizing::new(String::from_utf8_lossy(json).into_owned());
        let parsed = from_json(&text, &mut self.budget).map_err(|error| match error {
            crate::convert::ParseError::Syntax => MergeError::NotAnObject,
            crate::convert::ParseError::Limit(_) => MergeError::TooLarge,
        })?;
        let map = match parsed {
            Value::Map(map) => map,
            // Go's json.Unmarshal of `null` into a map leaves it empty.
            Value::Nil => return Ok(()),
            _ => return Err(MergeError::NotAnObject),
        };
        for (name, value) in map.iter() {
            if self.members.insert(name.clone(), value.clone()).is_some() {
                self.conflicts += 1;
            }
        }
        Ok(())
    }

    /// How many members replaced one an earlier object had.
    pub fn conflicts(&self) -> usize {
        self.conflicts
    }

    /// One entry per member, its value as ESO's `GetByteValue` writes it.
    pub fn into_members(self) -> Result<BTreeMap<String, Zeroizing<Vec<u8>>>, MergeError> {
        self.members
            .into_iter()
            .map(|(name, value)| Ok((name, member_bytes(&value)?)))
            .collect()
    }

    /// The merged object as Go's `json.Encoder` with HTML escaping off writes it (members sorted).
    pub fn to_json(&self) -> Result<Zeroizing<Vec<u8>>, MergeError> {
        let map = Value::Map(std::rc::Rc::new(self.members.clone()));
        let text = go_json(&map, false, false, crate::MAX_VALUE_BYTES).map_err(write_error)?;
        Ok(Zeroizing::new(text.as_bytes().to_vec()))
    }
}

fn write_error(error: ValueError) -> MergeError {
    match error {
        ValueError::TooLarge => MergeError::TooLarge,
        _ => MergeError::Unwritable,
    }
}

/// ESO's `GetByteValue` of a decoded JSON value.
fn member_bytes(value: &Value) -> Result<Zeroizing<Vec<u8>>, MergeError> {
    let text = match value {
        Value::Str(s) => return Ok(Zeroizing::new(s.as_bytes().to_vec())),
        Value::Nil => return Ok(Zeroizing::new(Vec::new())),
        Value::Bool(b) => b.to_string(),
        Value::Float(f) => crate::printf::format_go_float(*f, 'f', None),
        // `json.Marshal`, which escapes HTML characters.
        other => {
            let json = go_json(other, true, false, crate::MAX_VALUE_BYTES).map_err(write_error)?;
            return Ok(Zeroizing::new(json.as_bytes().to_vec()));
        }
    };
    Ok(Zeroizing::new(text.into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(objects: &[&str]) -> (BTreeMap<String, String>, usize) {
        let mut merged = Merged::new();
        for object in objects {
            merged.add(object.as_bytes()).unwrap();
        }
        let conflicts = merged.conflicts();
        let out = merged
            .into_members()
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8(v.to_vec()).unwrap()))
            .collect();
        (out, conflicts)
    }

    #[test]
    fn later_objects_win_and_each_replaced_member_is_a_conflict() {
        let (out, conflicts) = members(&[r#"{"a":"1","b":"2"}"#, r#"{"b":"3","c":"4"}"#]);
        assert_eq!(out["a"], "1");
        assert_eq!(out["b"], "3");
        assert_eq!(out["c"], "4");
        assert_eq!(conflicts, 1);
    }

    #[test]
    fn members_are_written_as_go_writes_them() {
        let (out, _) = members(&[
            r#"{"n":1.50,"big":12345678901234567890,"t":true,"z":null,"o":{"y":"<&>","x":2},"l":[1,"a"]}"#,
        ]);
        assert_eq!(out["n"], "1.5");
        assert_eq!(out["big"], "12345678901234567000");
        assert_eq!(out["t"], "true");
        assert_eq!(out["z"], "");
        assert_eq!(out["o"], r#"{"x":2,"y":"\u003c\u0026\u003e"}"#);
        assert_eq!(out["l"], r#"[1,"a"]"#);
    }

    #[test]
    fn the_json_document_is_sorted_and_not_html_escaped() {
        let mut merged = Merged::new();
        merged.add(br#"{"b":"<x>","a":1e21}"#).unwrap();
        let json = merged.to_json().unwrap();
        assert_eq!(
            std::str::from_utf8(&json).unwrap(),
            r#"{"a":1e+21,"b":"<x>"}"#
        );
    }

    #[test]
    fn anything_but_an_object_is_refused_without_quoting_it() {
        for text in ["[1]", "\"s3cr3t\"", "s3cr3t", "12"] {
            let error = Merged::new().add(text.as_bytes()).unwrap_err();
            assert_eq!(error, MergeError::NotAnObject, "{text}");
            assert!(!error.to_string().contains("s3cr3t"));
        }
    }
}
