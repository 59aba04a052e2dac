//! `kseal-controller`: see the library crate.

use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // kube uses rustls; several providers may be linked, so pick one explicitly.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let args = kseal_controller::Args::parse();
    kseal_controller::init_tracing();
    kseal_controller::run_from_args(args).await?;
    Ok(())
}
