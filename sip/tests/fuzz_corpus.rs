//! The `sip/fuzz` targets' regression test on stable: every file of
//! `sip/fuzz/corpus/{sip_message,sdp}/`, plus every prefix and single-byte
//! changes at a stride, through the same functions the cargo-fuzz targets
//! call (`warmline_sip::fuzzing`). A panic here is a fuzz finding.

use std::path::Path;

fn mutations(seed: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![seed.to_vec()];
    let step = (seed.len() / 150).max(1);
    out.extend((0..seed.len()).step_by(step).map(|n| seed[..n].to_vec()));
    let stride = (seed.len() / 60).max(1);
    for i in (0..seed.len()).step_by(stride) {
        for value in [0x00, b'\n', b':', b' ', seed[i] ^ 0x20] {
            let mut m = seed.to_vec();
            m[i] = value;
            out.push(m);
        }
    }
    out
}

#[test]
fn the_sip_fuzz_targets_pass_their_seed_corpora_and_mutations_on_stable() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    type Target = fn(&[u8]);
    let targets: [(&str, Target); 2] = [
        ("sip_message", warmline_sip::fuzzing::sip_message),
        ("sdp", warmline_sip::fuzzing::sdp),
    ];
    for (name, target) in targets {
        let mut seeds: Vec<_> = std::fs::read_dir(root.join(name))
            .expect("corpus dir")
            .flatten()
            .map(|e| e.path())
            .collect();
        seeds.sort();
        assert!(seeds.len() >= 5, "{name}: {seeds:?}");
        for seed in &seeds {
            let bytes = std::fs::read(seed).expect("seed");
            for input in mutations(&bytes) {
                let run = std::panic::catch_unwind(|| target(&input));
                assert!(
                    run.is_ok(),
                    "{name} panicked on a mutation of {}: {:?}",
                    seed.display(),
                    String::from_utf8_lossy(&input)
                );
            }
        }
    }
}
