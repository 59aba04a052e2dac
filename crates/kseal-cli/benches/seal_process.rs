//! One whole `kseal` seal process: a 5-key Secret sealed with a `--cert` file, from exec to exit.
//! Target: < 10 ms.
//!
//! Run: `cargo bench -p kseal-cli --bench seal_process`

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};

const TARGET: Duration = Duration::from_millis(10);
const SECRET: &str = "apiVersion: v1
kind: Secret
metadata:
  name: myapp-secret
  namespace: production
type: Opaque
stringData:
  DATABASE_URL: postgresql://user:pass@db:5432/myapp
  JWT_SECRET: super-secret-key
  REDIS_PASSWORD: redis-password
  API_TOKEN: 0123456789abcdef0123456789abcdef
  SMTP_PASSWORD: smtp-password
";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cmd/fixtures")
}

fn seal_once(secret: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_kseal"))
        .arg("--cert")
        .arg(fixtures().join("test-cert.pem"))
        .arg("-f")
        .arg(secret)
        .env("KUBECONFIG", "/nonexistent")
        .stdout(Stdio::null())
        .status()
        .expect("kseal runs");
    assert!(status.success());
}

fn seal_process(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.yaml");
    std::fs::write(&secret, SECRET).unwrap();

    let mut group = c.benchmark_group("kseal-process");
    group.sample_size(100);
    group.bench_function("seal 5-key Secret with --cert file", |b| {
        b.iter(|| seal_once(&secret))
    });
    group.finish();

    let mut times: Vec<Duration> = (0..200)
        .map(|_| {
            let start = Instant::now();
            seal_once(&secret);
            start.elapsed()
        })
        .collect();
    times.sort();
    let median = times[times.len() / 2];
    let p90 = times[times.len() * 9 / 10];
    println!(
        "\nkseal seal process, 5 keys, RSA-4096 --cert file: median {:.2} ms, p90 {:.2} ms (target < {} ms)",
        median.as_secs_f64() * 1e3,
        p90.as_secs_f64() * 1e3,
        TARGET.as_millis()
    );
}

criterion_group!(benches, seal_process);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
