//! Micro-benchmarks of the envelope crypto on the request path (issue 3, deliverable 6):
//! sealing and opening one field, the blind index of an email, and unwrapping tenant keys.
//!
//! `bench/crypto.sh` runs these and reads the medians from `target/criterion/`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hub_kernel::crypto::{
    BlindIndexKey, DataKey, KeyEncryptionKey, KeyMaterial, LocalKek, TenantKeyRing,
};
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use uuid::Uuid;

const TABLE: &str = "contacts";
const COLUMN: &str = "email";
const EMAIL: &str = "ada.lovelace@example.edu";

/// Drives a future that never waits (the local KEK does no I/O) without an async runtime.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the local KEK never waits"),
    }
}

fn ring() -> TenantKeyRing {
    let Ok(data_key) = DataKey::new(1, &KeyMaterial::generate()) else {
        panic!("a generated key has the right length");
    };
    let Ok(blind) = BlindIndexKey::new(&KeyMaterial::generate()) else {
        panic!("a generated key has the right length");
    };
    match TenantKeyRing::new(Uuid::now_v7(), 1, vec![data_key], blind) {
        Ok(ring) => ring,
        Err(e) => panic!("key ring: {e}"),
    }
}

fn seal_and_open(c: &mut Criterion) {
    let keys = ring();
    let row = Uuid::now_v7();
    for (label, len) in [("64", 64usize), ("4k", 4096)] {
        let plaintext = vec![0x61u8; len];
        let sealed = keys.seal(TABLE, COLUMN, row, &plaintext);

        let mut group = c.benchmark_group(format!("seal_{label}"));
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function("seal", |b| {
            b.iter(|| {
                keys.seal(
                    black_box(TABLE),
                    black_box(COLUMN),
                    row,
                    black_box(&plaintext),
                )
            })
        });
        group.finish();

        let mut group = c.benchmark_group(format!("open_{label}"));
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function("open", |b| {
            b.iter(|| keys.open(black_box(TABLE), black_box(COLUMN), row, black_box(&sealed)))
        });
        group.finish();
    }

    let plaintext = [0x61u8; 64];
    let mut group = c.benchmark_group("seal_open_64");
    group.throughput(Throughput::Bytes(64));
    group.bench_function("seal_open", |b| {
        b.iter(|| {
            let sealed = keys.seal(TABLE, COLUMN, row, black_box(&plaintext));
            keys.open(TABLE, COLUMN, row, black_box(&sealed))
        })
    });
    group.finish();
}

fn blind_index(c: &mut Criterion) {
    let keys = ring();
    let mut group = c.benchmark_group("blind_index");
    group.bench_function("email", |b| {
        b.iter(|| keys.blind_index(black_box(TABLE), black_box(COLUMN), black_box(EMAIL)))
    });
    group.finish();
}

fn key_unwrap(c: &mut Criterion) {
    let kek = match LocalKek::new(&KeyMaterial::generate()) {
        Ok(kek) => kek,
        Err(e) => panic!("kek: {e}"),
    };
    let tenant = Uuid::now_v7();
    let data_context = [tenant.as_bytes().as_slice(), b"data:1"].concat();
    let blind_context = [tenant.as_bytes().as_slice(), b"blind-index"].concat();
    let wrap = |context: &[u8]| match ready(kek.wrap(&KeyMaterial::generate(), context)) {
        Ok(wrapped) => wrapped,
        Err(e) => panic!("wrap: {e}"),
    };
    let wrapped_data = wrap(&data_context);
    let wrapped_blind = wrap(&blind_context);

    let mut group = c.benchmark_group("kek_unwrap");
    group.bench_function("data_key", |b| {
        b.iter(|| ready(kek.unwrap(black_box(&wrapped_data), black_box(&data_context))))
    });
    group.finish();

    // What a cold tenant costs once: unwrap both keys and build their ciphers.
    let mut group = c.benchmark_group("key_ring_from_wrapped");
    group.bench_function("one_version", |b| {
        b.iter(|| {
            let data = ready(kek.unwrap(black_box(&wrapped_data), &data_context))?;
            let blind = ready(kek.unwrap(black_box(&wrapped_blind), &blind_context))?;
            TenantKeyRing::new(
                tenant,
                1,
                vec![DataKey::new(1, &data)?],
                BlindIndexKey::new(&blind)?,
            )
        })
    });
    group.finish();
}

fn config() -> Criterion {
    // Short by default so `cargo bench` stays quick on a shared two-core machine; the command
    // line (`--warm-up-time`, `--measurement-time`) still overrides these.
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = seal_and_open, blind_index, key_unwrap
}
criterion_main!(benches);
