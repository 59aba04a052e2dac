//! `kseal`: seal Kubernetes Secrets for git, kubeseal-compatible.

fn main() -> std::process::ExitCode {
    // kube and ureq use rustls; several providers may be linked, so pick one explicitly.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    kseal_cli::main()
}
