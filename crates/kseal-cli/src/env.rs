//! `SEALED_SECRETS_<FLAG>` variables, read as kubeseal reads them.
//!
//! Every long flag of the sealing command (and of `kseal keys`) has one: the flag's name upper-cased,
//! `-` turned into `_` (`--allow-empty-data` → `SEALED_SECRETS_ALLOW_EMPTY_DATA`, `--as-group` →
//! `SEALED_SECRETS_AS_GROUP`). A flag given on the command line wins over its variable; list flags
//! (`--from-file`, `--recovery-private-key`, `--as-group`) take the variable's items first, then the
//! command line's. An empty variable is not set. Booleans read as Go's `strconv.ParseBool`; a value a
//! flag cannot take is ignored with a warning (kubeseal ignores it silently).

use std::ffi::OsString;

use clap::Command;

use crate::args::go_bool;

/// Prefix of the variables.
pub const PREFIX: &str = "SEALED_SECRETS_";

/// Flags without a variable: kubeseal reads none for its logging flags, and `--help` is kseal's own.
const NO_VARIABLE: [&str; 2] = ["help", "v"];

/// The variable of a long flag.
pub fn variable(long: &str) -> String {
    format!("{PREFIX}{}", long.to_ascii_uppercase().replace('-', "_"))
}

/// `--flag=value` arguments from the variables set for the flags of `command`, to go before the
/// command line's own arguments. `lookup` reads a variable (the process environment, or a map in tests).
pub fn arguments(command: &Command, lookup: impl Fn(&str) -> Option<String>) -> Vec<OsString> {
    let mut out = Vec::new();
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if NO_VARIABLE.contains(&long) {
            continue;
        }
        let name = variable(long);
        let Some(value) = lookup(&name).filter(|v| !v.is_empty()) else {
            continue;
        };
        let boolean =
            arg.get_value_parser().type_id() == clap::builder::ValueParser::bool().type_id();
        if boolean && go_bool(&value).is_err() {
            eprintln!(
                "warning: ignoring {name}: not a boolean (use true, false, 1, 0, t, f, TRUE, FALSE, True or False)"
            );
            continue;
        }
        if long == "scope" && value.parse::<kseal_crypto::Scope>().is_err() {
            eprintln!("warning: ignoring {name}: use strict, namespace-wide or cluster-wide");
            continue;
        }
        out.push(OsString::from(format!("--{long}={value}")));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use clap::CommandFactory as _;

    use super::*;
    use crate::Cli;

    fn from(vars: &[(&str, &str)]) -> Vec<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        arguments(&Cli::command(), |name| vars.get(name).cloned())
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn names_follow_the_flags_and_empty_means_unset() {
        assert_eq!(
            variable("allow-empty-data"),
            "SEALED_SECRETS_ALLOW_EMPTY_DATA"
        );
        assert_eq!(
            from(&[
                ("SEALED_SECRETS_FORMAT", ""),
                ("SEALED_SECRETS_SCOPE", ""),
                ("SEALED_SECRETS_RAW", ""),
                ("SEALED_SECRETS_AS_GROUP", "devs"),
                ("SEALED_SECRETS_REQUEST_TIMEOUT", "5s"),
            ]),
            ["--as-group=devs", "--request-timeout=5s"]
        );
    }

    #[test]
    fn booleans_read_as_go_does_and_bad_values_are_ignored() {
        for value in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(
                from(&[("SEALED_SECRETS_RAW", value)]),
                [format!("--raw={value}")]
            );
        }
        assert!(from(&[("SEALED_SECRETS_RAW", "yes")]).is_empty());
        assert!(from(&[("SEALED_SECRETS_SCOPE", "global")]).is_empty());
        assert!(from(&[("SEALED_SECRETS_V", "9")]).is_empty());
    }
}
