//! Input, output formats and atomic file writes.

use std::io::{Read as _, Write as _};
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

/// Output format of manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Pretty JSON, kubeseal's default.
    Json,
    /// YAML documents, each starting with `---`.
    Yaml,
}

impl Format {
    /// yaml for a `.yaml`/`.yml` output file whatever `-o` says (as kubeseal), else `-o`, else json.
    pub fn choose(flag: Option<&str>, output: Option<&Path>) -> Result<Format> {
        if Format::implied_by(output) == Some(Format::Yaml) {
            return Ok(Format::Yaml);
        }
        match flag.map(str::to_ascii_lowercase).as_deref() {
            Some("json") => Ok(Format::Json),
            Some("yaml") | Some("yml") => Ok(Format::Yaml),
            Some(other) => bail!("unsupported output format: {other} (use json or yaml)"),
            None => Ok(Format::implied_by(output).unwrap_or(Format::Json)),
        }
    }

    /// The format a file name implies, if any.
    pub fn implied_by(path: Option<&Path>) -> Option<Format> {
        match path?.extension()?.to_str()? {
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    /// The format of existing manifest text.
    pub fn detect(text: &str) -> Format {
        if text.trim_start().starts_with('{') {
            Format::Json
        } else {
            Format::Yaml
        }
    }

    /// Renders objects one after another.
    pub fn render<T: Serialize>(self, objects: &[T]) -> Result<String> {
        let mut out = String::new();
        for object in objects {
            match self {
                Format::Json => {
                    out.push_str(&serde_json::to_string_pretty(object)?);
                    out.push('\n');
                }
                Format::Yaml => {
                    out.push_str("---\n");
                    out.push_str(
                        &serde_saphyr::to_string_with_options(object, yaml_options())
                            .context("cannot write YAML")?,
                    );
                    if !out.ends_with('\n') {
                        out.push('\n');
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Plain scalars on one line, as kubeseal writes them (ciphertexts are never folded).
fn yaml_options() -> serde_saphyr::SerializerOptions {
    serde_saphyr::ser_options! {
        prefer_block_scalars: false,
    }
}

/// Reads the whole input: a file, or stdin when `path` is `None` or `-`.
pub fn read_input(path: Option<&Path>) -> Result<String> {
    match path {
        Some(path) if path != Path::new("-") => Ok(fs_err::read_to_string(path)?),
        _ => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read stdin")?;
            Ok(text)
        }
    }
}

/// Writes to `path` atomically (a temporary file in the same directory, then a rename), or to stdout.
pub fn write_output(path: Option<&Path>, content: &[u8]) -> Result<()> {
    match path {
        Some(path) if path != Path::new("-") => write_atomic(path, content, None),
        _ => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(content)?;
            stdout.flush()?;
            Ok(())
        }
    }
}

/// Replaces `path` with `content` in one rename; with `mode`, the file gets those Unix permissions.
pub fn write_atomic(path: &Path, content: &[u8], mode: Option<u32>) -> Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt as _;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    file.write_all(content)
        .and_then(|()| file.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
