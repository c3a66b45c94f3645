//! The fuzz targets (`muster_proto::fuzzing`, run by libFuzzer through `bash
//! ops/fuzz.sh`) replayed on stable Rust over the checked-in corpus
//! (`fuzz/corpus/<target>/`, seeds and whatever the fuzzer kept), and over
//! a few thousand seeded random inputs each: no untrusted input may panic.

use muster_proto::fuzzing::TARGETS;
use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    files.sort();
    files
}

fn run(target: &str, body: fn(&[u8]), input: &[u8], what: &str) {
    if std::panic::catch_unwind(|| body(input)).is_err() {
        panic!("fuzz target {target} panicked on {what} ({} bytes): {:?}", input.len(), String::from_utf8_lossy(input));
    }
}

#[test]
fn every_target_survives_its_corpus() {
    for (target, body) in TARGETS {
        let files = corpus(target);
        assert!(!files.is_empty(), "fuzz/corpus/{target} holds no seed");
        for (path, bytes) in &files {
            run(target, body, bytes, &path.display().to_string());
        }
    }
}

#[test]
fn every_target_survives_seeded_random_inputs_and_mutations_of_its_seeds() {
    let mut rng = muster_gen::rng::Rng::new(2026);
    for (target, body) in TARGETS {
        let seeds = corpus(target);
        for i in 0..2000 {
            let input: Vec<u8> = if i % 2 == 0 {
                let len = rng.below(600) as usize;
                (0..len).map(|_| rng.below(256) as u8).collect()
            } else {
                // A seed with a few bytes changed, cut, or repeated.
                let (_, seed) = &seeds[rng.below(seeds.len() as u64) as usize];
                let mut input = seed.clone();
                for _ in 0..=rng.below(4) {
                    if input.is_empty() {
                        break;
                    }
                    let at = rng.below(input.len() as u64) as usize;
                    match rng.below(3) {
                        0 => input[at] = rng.below(256) as u8,
                        1 => input.truncate(at),
                        _ => {
                            let piece = input[at..].to_vec();
                            input.extend_from_slice(&piece);
                        }
                    }
                }
                input
            };
            run(target, body, &input, &format!("random input {i}"));
        }
    }
}
