//! The `kseal` command line: argument parsing, input/output and the offline commands.
//!
//! It takes kubeseal v0.40.0's flags, kubectl's client flags and their `SEALED_SECRETS_*` variables (see
//! `env`), and behaves as kubeseal except for the deliberate differences the README lists and
//! `tests/kubeseal-corpus` checks against the real kubeseal.
//!
//! stdout carries only data (manifests, certificates, ciphertext); messages go to stderr.

mod args;
mod cert;
mod commands;
mod env;
mod io;
mod kubeconfig;
mod online;

use std::process::ExitCode;

use std::ffi::OsString;

use clap::{CommandFactory as _, Parser as _};

pub use args::Cli;

/// Exit status of a failed command.
const EXIT_FAILURE: u8 = 1;
/// Exit status of a usage error (clap's convention).
const EXIT_USAGE: u8 = 2;

/// Parses the process arguments, runs the command and reports errors as `error: …` on stderr.
pub fn main() -> ExitCode {
    let cli = match parse(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            if let Some(hint) = commands::hint(&error) {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Parses the command line with the `SEALED_SECRETS_*` variables of the chosen command in front of its
/// own arguments, so that the command line wins.
fn parse(argv: Vec<OsString>) -> Result<Cli, clap::Error> {
    let first = Cli::try_parse_from(&argv)?;
    let command = Cli::command();
    let lookup = |name: &str| std::env::var(name).ok();
    let (position, variables) = match &first.command {
        None => (1, env::arguments(&command, lookup)),
        Some(args::Command::Keys(_)) => {
            let keys = command
                .find_subcommand("keys")
                .expect("kseal keys is a subcommand");
            let position = argv
                .iter()
                .position(|a| a == "keys")
                .map_or(argv.len(), |i| i + 1);
            // `kseal keys -o` picks a report format, not the sealing format SEALED_SECRETS_FORMAT sets.
            let mut variables = env::arguments(keys, lookup);
            variables.retain(|a| !a.to_string_lossy().starts_with("--format="));
            (position, variables)
        }
        Some(_) => return Ok(first),
    };
    if variables.is_empty() {
        return Ok(first);
    }
    let mut full = argv;
    full.splice(position..position, variables);
    Cli::try_parse_from(full)
}
