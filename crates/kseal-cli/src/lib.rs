//! The `kseal` command line: argument parsing, input/output and the offline commands.
//!
//! stdout carries only data (manifests, certificates, ciphertext); messages go to stderr.

mod args;
mod cert;
mod commands;
mod io;
mod kubeconfig;
mod online;

use std::process::ExitCode;

use clap::Parser as _;

pub use args::Cli;

/// Exit status of a failed command.
const EXIT_FAILURE: u8 = 1;
/// Exit status of a usage error (clap's convention).
const EXIT_USAGE: u8 = 2;

/// Parses the process arguments, runs the command and reports errors as `error: …` on stderr.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
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
