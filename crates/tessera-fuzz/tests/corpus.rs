//! Runs every fuzz target over the corpus kept in `fuzz/corpus/<target>/`: the seeds
//! written by hand and whatever a fuzzing run found worth keeping (a crash found once is
//! added there when fixed, so it stays fixed). Fast: a few thousand inputs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

#[test]
fn every_kept_input_of_every_target_passes() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut total = 0;
    for (name, target) in tessera_fuzz::TARGETS {
        let dir = root.join(name);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut count = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "target {name} panicked on {}", path.display());
            count += 1;
        }
        assert!(count > 0, "target {name} has an empty corpus");
        total += count;
    }
    assert!(total >= tessera_fuzz::TARGETS.len());
}

#[test]
fn the_fuzz_crate_wraps_every_target() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    for (name, _) in tessera_fuzz::TARGETS {
        let source = std::fs::read_to_string(dir.join("fuzz_targets").join(format!("{name}.rs"))).unwrap();
        assert!(source.contains(&format!("tessera_fuzz::{name}(")), "fuzz_targets/{name}.rs");
        assert!(manifest.contains(&format!("name = \"{name}\"")), "fuzz/Cargo.toml lacks {name}");
    }
}
