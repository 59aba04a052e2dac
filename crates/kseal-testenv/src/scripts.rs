//! Runs the shell scripts of `tests/env`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A process of the test environment that fault tests can stop and start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// etcd (kube-apiserver's storage).
    Etcd,
    /// kube-apiserver.
    ApiServer,
    /// moto (AWS Secrets Manager).
    Moto,
}

impl Component {
    fn name(self) -> &'static str {
        match self {
            Component::Etcd => "etcd",
            Component::ApiServer => "apiserver",
            Component::Moto => "moto",
        }
    }
}

/// `tests/env` in this checkout.
pub(crate) fn env_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/env")
}

/// Runs `tests/env/up` with `args`, stopped by its watchdog when this process exits.
pub(crate) fn up(args: &[&str]) -> BTreeMap<String, String> {
    let output = Command::new(env_dir().join("up"))
        .args(args)
        .arg("--watch-pid")
        .arg(std::process::id().to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("cannot run tests/env/up");
    assert!(
        output.status.success(),
        "tests/env/up failed: {}",
        output.status
    );
    parse_exports(&String::from_utf8_lossy(&output.stdout))
}

pub(crate) fn down(dir: &Path) {
    let status = Command::new(env_dir().join("down"))
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        eprintln!("tests/env/down --dir {} failed: {status:?}", dir.display());
    }
}

pub(crate) fn ctl(dir: &Path, action: &str, component: Component) {
    let status = Command::new(env_dir().join("ctl"))
        .arg("--dir")
        .arg(dir)
        .args([action, component.name()])
        .stdin(Stdio::null())
        .status()
        .expect("cannot run tests/env/ctl");
    assert!(
        status.success(),
        "tests/env/ctl {action} {} failed",
        component.name()
    );
}

/// Path of a kubeconfig for `user` in `groups`, from `tests/env/kubeconfig-for`.
pub(crate) fn kubeconfig_for(dir: &Path, user: &str, groups: &[&str]) -> PathBuf {
    let output = Command::new(env_dir().join("kubeconfig-for"))
        .arg("--dir")
        .arg(dir)
        .arg(user)
        .args(groups)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("cannot run tests/env/kubeconfig-for");
    assert!(output.status.success(), "tests/env/kubeconfig-for failed");
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

/// Reads the `env` file `up` wrote into its state directory.
pub(crate) fn read_exports(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("KSEAL_TESTENV_DIR is set but {}: {e}", path.display()));
    parse_exports(&text)
}

/// Parses the `export NAME='value'` lines `up` prints.
fn parse_exports(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("export "))
        .filter_map(|assignment| assignment.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.trim_matches('\'').to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse_exports;

    #[test]
    fn parses_export_lines() {
        let vars = parse_exports("export A='x y'\nnoise\nexport B=z\n");
        assert_eq!(vars["A"], "x y");
        assert_eq!(vars["B"], "z");
        assert_eq!(vars.len(), 2);
    }
}
