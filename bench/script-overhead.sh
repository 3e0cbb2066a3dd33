#!/usr/bin/env bash
# What a custom-claims script adds to token issuance: builds tessera-claims in release and
# prints p50/p99/mean of ScriptEngine::run for a trivial and a realistic 50-line async script,
# with the thread's runtime kept (the normal case) and built for the run (first run per thread).
# Every run gets a fresh context and compiles the script in it.
#
#   bench/script-overhead.sh            # 2,000 measured runs per case after 200 warm-up
#   RUNS=10000 bench/script-overhead.sh
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --quiet -p tessera-claims --bench script_overhead
