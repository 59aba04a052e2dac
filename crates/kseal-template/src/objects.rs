//! sprig's date and semver functions (`now`, `date`, `toDate`, `dateModify`, `ago`, `semver`,
//! `semverCompare`, ...) and the methods templates call on the values they return
//! (`(toDate "2006-01-02" .d).Year`, `(semver .v).Major`, `(semver .a).LessThan (semver .b)`).

use std::rc::Rc;

use crate::budget::Budget;
use crate::date::{self, Field, GoTime, Zone};
use crate::funcs::{arity, invalid};
use crate::semver::{Constraints, Version};
use crate::value::{FuncError, Value};

type FResult = Result<Value, FuncError>;

// The names are listed in `sprig::FUNCTIONS`, whose dispatch falls through to [`call`].

fn text(b: &mut Budget, s: String) -> FResult {
    b.produce(s.len())?;
    Ok(Value::str(s))
}

fn time(b: &mut Budget, t: GoTime) -> FResult {
    b.nodes(1)?;
    Ok(Value::Time(Rc::new(t)))
}

/// A date as sprig's `date` takes it: a time, an integer of Unix seconds, anything else "now".
fn any_date(v: &Value) -> GoTime {
    match v {
        Value::Time(t) => (**t).clone(),
        Value::Int(i) => GoTime::from_unix(*i),
        _ => GoTime::now(),
    }
}

/// A parameter Go types as `time.Time`.
fn time_param(v: &Value) -> Result<&GoTime, FuncError> {
    match v {
        Value::Time(t) => Ok(t),
        other => invalid(format!(
            "wrong type for value; expected time.Time; got {}",
            crate::value::go_type(other)
        )),
    }
}

fn format_in(layout: &str, date: &Value, zone: &str, b: &mut Budget) -> FResult {
    // Go's Format writes at most twice the layout's length (`4` is `59`, `MST` is `+0530`) and a year.
    b.can_produce(layout.len().saturating_mul(3).saturating_add(64))?;
    let zone = date::load_location(zone).unwrap_or(Zone::Utc);
    text(b, any_date(date).in_zone(zone).format(layout))
}

/// Go's `time.Since(t)`.
pub(crate) fn since(t: &GoTime) -> i64 {
    GoTime::now().sub(t)
}

/// Calls `name`, or `None` if this module does not have it.
pub(crate) fn call(name: &str, a: &[Value], b: &mut Budget) -> Option<FResult> {
    Some(match name {
        "now" => arity(a, 0).and_then(|()| time(b, GoTime::now())),
        "date" => arity(a, 2).and_then(|()| format_in(a[0].as_str()?, &a[1], "Local", b)),
        "dateInZone" | "date_in_zone" => {
            arity(a, 3).and_then(|()| format_in(a[0].as_str()?, &a[1], a[2].as_str()?, b))
        }
        "htmlDate" => arity(a, 1).and_then(|()| format_in("2006-01-02", &a[0], "Local", b)),
        "htmlDateInZone" => {
            arity(a, 2).and_then(|()| format_in("2006-01-02", &a[0], a[1].as_str()?, b))
        }
        "toDate" | "mustToDate" => arity(a, 2).and_then(|()| {
            let parsed = date::parse_in_location(a[0].as_str()?, a[1].as_str()?, &Zone::Local);
            match parsed {
                Ok(t) => time(b, t),
                Err(e) if name == "mustToDate" => invalid(e.to_string()),
                Err(_) => time(b, GoTime::zero()),
            }
        }),
        "unixEpoch" => arity(a, 1).and_then(|()| text(b, time_param(&a[0])?.unix.to_string())),
        "dateModify" | "date_modify" | "mustDateModify" | "must_date_modify" => arity(a, 2)
            .and_then(|()| {
                let d = date::parse_duration(a[0].as_str()?);
                let t = time_param(&a[1])?;
                match d {
                    Some(d) => time(b, t.add(d)),
                    None if name.starts_with("must") => {
                        invalid("time: invalid duration (the value is not shown)")
                    }
                    None => time(b, t.clone()),
                }
            }),
        "ago" => arity(a, 1).and_then(|()| {
            let t = match &a[0] {
                Value::Time(t) => (**t).clone(),
                Value::Int(i) => GoTime::from_unix(*i),
                _ => GoTime::now(),
            };
            let d = date::round_duration(since(&t), 1_000_000_000);
            text(b, crate::sprig::go_duration(d))
        }),
        "semver" => arity(a, 1).and_then(|()| {
            let v =
                Version::parse(a[0].as_str()?).map_err(|e| FuncError::Invalid(e.to_string()))?;
            b.nodes(1)?;
            Ok(Value::Semver(Rc::new(v)))
        }),
        "semverCompare" => arity(a, 2).and_then(|()| {
            let text = a[0].as_str()?;
            b.work(text.len().saturating_mul(crate::semver::range_count(text)))?;
            let c = Constraints::parse(text).map_err(|e| FuncError::Invalid(e.to_string()))?;
            let v =
                Version::parse(a[1].as_str()?).map_err(|e| FuncError::Invalid(e.to_string()))?;
            Ok(Value::Bool(c.check(&v)))
        }),
        _ => return None,
    })
}

/// Go's `==` of two times or two versions (`eq`), `None` for other values. A time compares its
/// instant, monotonic reading and location pointer (UTC and Local are shared, other locations are
/// made anew by each call, but for the unnamed whole-hour ones); a `*Version` compares the pointer, a `Version` its fields.
pub(crate) fn go_equal(a: &Value, b: &Value) -> Option<bool> {
    Some(match (a, b) {
        (Value::Time(x), Value::Time(y)) => {
            Rc::ptr_eq(x, y)
                || (x.unix, x.nsec, x.mono) == (y.unix, y.nsec, y.mono)
                    && match (&x.zone, &y.zone) {
                        (Zone::Utc, Zone::Utc) | (Zone::Local, Zone::Local) => true,
                        // Go shares the unnamed whole-hour zones from -12 to +14.
                        (
                            Zone::Fixed { name: a, offset: p },
                            Zone::Fixed { name: b, offset: q },
                        ) => {
                            a.is_empty()
                                && b.is_empty()
                                && p == q
                                && p % 3600 == 0
                                && (-12 * 3600..=14 * 3600).contains(p)
                        }
                        _ => false,
                    }
        }
        (Value::Semver(x), Value::Semver(y)) if x.pointer == y.pointer => {
            if x.pointer {
                Rc::ptr_eq(x, y)
            } else {
                x == y
            }
        }
        _ => return None,
    })
}

/// Go's `reflect.DeepEqual` of two times or two versions: their fields, locations compared by content.
pub(crate) fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Time(x), Value::Time(y)) => {
            (x.unix, x.nsec, x.mono) == (y.unix, y.nsec, y.mono)
                && match (&x.zone, &y.zone) {
                    (Zone::Utc, Zone::Utc) | (Zone::Local, Zone::Local) => true,
                    (Zone::Fixed { name: a, offset: p }, Zone::Fixed { name: b, offset: q }) => {
                        a == b && p == q
                    }
                    (Zone::Named(p), Zone::Named(q)) => p.iana_name() == q.iana_name(),
                    _ => false,
                }
        }
        (Value::Semver(x), Value::Semver(y)) => x == y,
        _ => false,
    }
}

/// Whether `v` is a value with methods (a time or a version).
pub(crate) fn has_methods(v: &Value) -> bool {
    matches!(v, Value::Time(_) | Value::Semver(_))
}

/// Calls the method `name` of a time or a version with `args` (a field reference is a call without
/// arguments), as Go's template engine calls methods; `None` if the value has no such method.
pub(crate) fn method(recv: &Value, name: &str, args: &[Value], b: &mut Budget) -> Option<FResult> {
    let want = |n: usize| -> Result<(), FuncError> {
        if args.len() == n {
            Ok(())
        } else {
            invalid(format!(
                "wrong number of args for {name}: want {n} got {}",
                args.len()
            ))
        }
    };
    match recv {
        Value::Time(t) => {
            if let Some(field) = t.method(name) {
                return Some(want(0).and_then(|()| match field {
                    Field::Int(i) => Ok(Value::Int(i)),
                    Field::Bool(x) => Ok(Value::Bool(x)),
                    Field::Str(s) => text(b, s),
                    Field::Time(t) => time(b, t),
                }));
            }
            Some(match name {
                "Format" => want(1).and_then(|()| {
                    let layout = args[0].as_str()?;
                    b.can_produce(layout.len().saturating_mul(3).saturating_add(64))?;
                    text(b, t.format(layout))
                }),
                "Add" => want(1).and_then(|()| match &args[0] {
                    Value::Int(d) => time(b, t.add(*d)),
                    other => invalid(format!(
                        "wrong type for value; expected time.Duration; got {}",
                        crate::value::go_type(other)
                    )),
                }),
                "AddDate" => want(3).and_then(|()| {
                    let n = |v: &Value| match v {
                        Value::Int(i) => Ok(*i),
                        other => invalid(format!(
                            "wrong type for value; expected int; got {}",
                            crate::value::go_type(other)
                        )),
                    };
                    time(b, t.add_date(n(&args[0])?, n(&args[1])?, n(&args[2])?))
                }),
                "After" | "Before" | "Equal" | "Compare" => want(1).and_then(|()| {
                    let o = time_param(&args[0])?;
                    let ord = (t.unix, t.nsec).cmp(&(o.unix, o.nsec));
                    Ok(match name {
                        "After" => Value::Bool(ord.is_gt()),
                        "Before" => Value::Bool(ord.is_lt()),
                        "Equal" => Value::Bool(ord.is_eq()),
                        _ => Value::Int(ord as i64),
                    })
                }),
                _ => return None,
            })
        }
        Value::Semver(v) => Some(match name {
            "Major" | "Minor" | "Patch" => want(0).map(|()| {
                let n = match name {
                    "Major" => v.major,
                    "Minor" => v.minor,
                    _ => v.patch,
                };
                Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
            }),
            "Prerelease" => want(0).and_then(|()| text(b, v.pre.clone())),
            "Metadata" => want(0).and_then(|()| text(b, v.metadata.clone())),
            // Methods with pointer receivers: not on a `Version` value.
            "Original" | "Compare" | "LessThan" | "LessThanEqual" | "GreaterThan"
            | "GreaterThanEqual" | "Equal"
                if !v.pointer =>
            {
                return None;
            }
            "Original" => want(0).and_then(|()| text(b, v.original.clone())),
            "String" => want(0).and_then(|()| text(b, v.text())),
            "IncMajor" | "IncMinor" | "IncPatch" => want(0).and_then(|()| {
                b.nodes(1)?;
                let what = name.trim_start_matches("Inc").to_ascii_lowercase();
                Ok(Value::Semver(Rc::new(v.inc(&what))))
            }),
            "SetPrerelease" | "SetMetadata" => want(1).and_then(|()| {
                let next = v
                    .with_part(name == "SetMetadata", args[0].as_str()?)
                    .map_err(|e| FuncError::Invalid(e.to_string()))?;
                b.nodes(1)?;
                Ok(Value::Semver(Rc::new(next)))
            }),
            "Compare" | "LessThan" | "LessThanEqual" | "GreaterThan" | "GreaterThanEqual"
            | "Equal" => want(1).and_then(|()| {
                let Value::Semver(o) = &args[0] else {
                    return invalid(format!(
                        "wrong type for value; expected *semver.Version; got {}",
                        crate::value::go_type(&args[0])
                    ));
                };
                let ord = v.compare(o);
                Ok(match name {
                    "Compare" => Value::Int(ord as i64),
                    "LessThan" => Value::Bool(ord.is_lt()),
                    "LessThanEqual" => Value::Bool(ord.is_le()),
                    "GreaterThan" => Value::Bool(ord.is_gt()),
                    "GreaterThanEqual" => Value::Bool(ord.is_ge()),
                    _ => Value::Bool(ord.is_eq()),
                })
            }),
            _ => return None,
        }),
        _ => None,
    }
}
