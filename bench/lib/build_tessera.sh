# Sourced by bench/run and bench/soak: builds Tessera and sets $tessera_bin.
#
#   build_tessera release   cargo build --release -p tessera (full runs)
#   build_tessera short     the short modes CI runs right after `cargo test --workspace`:
#                           the dev profile with Tessera's own crates at opt-level 3. Its
#                           dependencies are the test build's (already at opt-level 3 by
#                           [profile.dev.package."*"]; `--workspace --examples` resolves the
#                           same features as `cargo test --workspace`), so only Tessera's
#                           crates compile, not every dependency a second time. Debug
#                           assertions stay on and there is no LTO: the figures run below a
#                           release build's (docs/performance.md).
# Needs $target (the cargo target folder).
build_tessera() {
  if [ "$1" = short ]; then
    echo "bench: building Tessera (short mode: dev profile, Tessera's crates at opt-level 3)" >&2
    CARGO_PROFILE_DEV_OPT_LEVEL=3 nice -n 10 cargo build --locked --workspace --bin tessera --examples
    mkdir -p "$target/bench"
    cp "$target/debug/tessera" "$target/bench/tessera"
    tessera_bin="$target/bench/tessera"
  else
    echo "bench: building Tessera (release)" >&2
    nice -n 10 cargo build --release --locked -p tessera
    tessera_bin="$target/release/tessera"
  fi
}
