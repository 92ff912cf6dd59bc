//! The fuzz targets' regression test on stable: every committed seed of
//! `fuzz/corpus/<target>/` (and whatever else a fuzz run left there), plus
//! simple mutations of each (every prefix, and single-byte changes at a
//! stride), goes through the same function the cargo-fuzz target calls
//! (`warmline::fuzzing`). A panic here is a fuzz finding; the real
//! fuzzers and their recorded runs are in `fuzz/README.md`.

use std::path::Path;

/// Mutations per seed stay bounded so the test runs in seconds.
const MAX_PREFIXES: usize = 600;
const FLIP_STRIDE_TARGET: usize = 300;

fn mutations(seed: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![seed.to_vec()];
    let step = (seed.len() / MAX_PREFIXES).max(1);
    out.extend((0..seed.len()).step_by(step).map(|n| seed[..n].to_vec()));
    let stride = (seed.len() / FLIP_STRIDE_TARGET).max(1);
    for i in (0..seed.len()).step_by(stride) {
        for value in [0x00, 0xFF, seed[i] ^ 0x80, b'"', b'{'] {
            let mut m = seed.to_vec();
            m[i] = value;
            out.push(m);
        }
    }
    out
}

#[test]
fn every_fuzz_target_passes_its_seed_corpus_and_mutations_on_stable() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (name, target) in warmline::fuzzing::TARGETS {
        let dir = root.join(name);
        let mut seeds: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .collect();
        seeds.sort();
        assert!(
            seeds.len() >= 3,
            "{name}: at least three seeds, found {seeds:?}"
        );
        let mut inputs = 0usize;
        for seed in &seeds {
            let bytes = std::fs::read(seed).expect("seed");
            for input in mutations(&bytes) {
                let run = std::panic::catch_unwind(|| target(&input));
                assert!(
                    run.is_ok(),
                    "fuzz target {name} panicked on a mutation of {}: {:?}",
                    seed.display(),
                    String::from_utf8_lossy(&input)
                );
                inputs += 1;
            }
        }
        println!("{name}: {} seeds, {inputs} inputs", seeds.len());
    }
}

#[test]
fn the_fuzz_project_lists_every_target_the_library_exports() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/Cargo.toml"))
        .expect("fuzz/Cargo.toml");
    for (name, _) in warmline::fuzzing::TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no [[bin]] {name}"
        );
        let target = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/fuzz_targets")
            .join(format!("{name}.rs"));
        let text = std::fs::read_to_string(&target).expect("target file");
        assert!(
            text.contains(&format!("warmline::fuzzing::{name}(")),
            "{}",
            target.display()
        );
    }
}
