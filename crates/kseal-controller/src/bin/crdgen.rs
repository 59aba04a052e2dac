//! `kseal-crdgen [DIR]`: writes kseal's CRD manifests into the Helm chart (default `deploy/helm/kseal/crds`).

use std::path::PathBuf;

use anyhow::Context as _;

fn main() -> anyhow::Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(kseal_controller::crd::default_crd_dir);
    for file in kseal_controller::crd::crd_files().context("cannot render the CRDs as YAML")? {
        let path = dir.join(&file.file_name);
        std::fs::write(&path, file.yaml)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
