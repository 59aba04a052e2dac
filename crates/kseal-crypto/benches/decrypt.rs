//! The controller's hot path: opening one sealed value with an RSA-4096 key, beside the raw
//! aws-lc-rs RSA-4096 OAEP decrypt it is built on. Target: kseal ≥ 0.9 × raw rate.
//!
//! Run: `cargo bench -p kseal-crypto --bench decrypt`

use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    PrivateDecryptingKey,
};
use criterion::{Criterion, criterion_group};
use kseal_crypto::{PrivateKey, Scope, label, open, seal};

const MEASURE: Duration = Duration::from_secs(5);

fn decrypt(c: &mut Criterion) {
    let raw = PrivateDecryptingKey::generate(KeySize::Rsa4096).unwrap();
    let pkcs8 = raw.as_der().unwrap();
    let key = PrivateKey::from_pkcs8_der(pkcs8.as_ref()).unwrap();
    let label = label(Scope::Strict, "production", "myapp-secret");

    let raw_public = OaepPublicEncryptingKey::new(raw.public_key()).unwrap();
    let mut raw_ct = vec![0u8; raw_public.ciphertext_size()];
    raw_public
        .encrypt(
            &OAEP_SHA256_MGF1SHA256,
            &[7u8; 32],
            &mut raw_ct,
            Some(&label),
        )
        .unwrap();
    let raw_oaep = OaepPrivateDecryptingKey::new(raw).unwrap();
    let sealed = seal(
        key.public_key(),
        &label,
        b"postgresql://user:pass@db:5432/myapp",
    )
    .unwrap();

    let mut group = c.benchmark_group("rsa4096-decrypt");
    group.measurement_time(MEASURE).sample_size(50);
    group.bench_function("aws-lc-rs raw OAEP", |b| {
        let mut out = vec![0u8; raw_oaep.min_output_size()];
        b.iter(|| {
            raw_oaep
                .decrypt(
                    &OAEP_SHA256_MGF1SHA256,
                    black_box(&raw_ct),
                    &mut out,
                    Some(&label),
                )
                .unwrap()
                .len()
        })
    });
    group.bench_function("kseal open value", |b| {
        b.iter(|| open(&key, &label, black_box(&sealed)).unwrap().len())
    });
    group.finish();

    // One comparable figure from this same run: alternate short batches of each so that load from
    // other processes falls on both equally, then compare the rates.
    let mut out = vec![0u8; raw_oaep.min_output_size()];
    let (raw_rate, kseal_rate) = interleaved_rates(
        || {
            raw_oaep
                .decrypt(&OAEP_SHA256_MGF1SHA256, &raw_ct, &mut out, Some(&label))
                .unwrap();
        },
        || {
            open(&key, &label, &sealed).unwrap();
        },
    );
    println!(
        "\nRSA-4096 decrypt, one core: kseal open {kseal_rate:.1}/s, aws-lc-rs raw {raw_rate:.1}/s, \
         ratio {:.3} (target >= 0.90)",
        kseal_rate / raw_rate
    );
}

/// Operations per second of `a` and `b`, measured in alternating batches over a fixed window.
fn interleaved_rates(mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    const BATCH: u32 = 25;
    let window = Duration::from_secs(6);
    let (mut time_a, mut time_b) = (Duration::ZERO, Duration::ZERO);
    let mut batches = 0u32;
    let start = Instant::now();
    while start.elapsed() < window {
        let t = Instant::now();
        (0..BATCH).for_each(|_| a());
        time_a += t.elapsed();
        let t = Instant::now();
        (0..BATCH).for_each(|_| b());
        time_b += t.elapsed();
        batches += 1;
    }
    let ops = f64::from(batches * BATCH);
    (ops / time_a.as_secs_f64(), ops / time_b.as_secs_f64())
}

criterion_group!(benches, decrypt);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
