#!/usr/bin/env bash
# Coverage-guided fuzzing of the checkpoint reader on stable Rust, for SECONDS
# (default 60), with the corpus seeded from the golden files:
#
#   fuzz/run.sh 3600                      # an hour; findings go to fuzz/artifacts/
#   taskset -c 1 fuzz/run.sh 20           # CI's short pass
#
# libFuzzer comes from the libfuzzer-sys crate (it needs a C++ compiler);
# SanitizerCoverage from rustc's stable -Cpasses=sancov-module. Without
# -Zsanitizer (nightly) there is no ASan, which safe Rust does not need:
# panics, overflows (-Coverflow-checks), allocations over -malloc_limit_mb and
# slow inputs are what it finds. The working corpus lives in target/ (new
# interesting inputs are not committed); fuzz/corpus/ holds the seeds and
# every input that ever found something.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
if ! command -v c++ >/dev/null 2>&1; then
    echo "fuzz/run.sh: skipped: libFuzzer needs a C++ compiler (c++), which this machine lacks"
    exit 0
fi
target="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
cargo build --release --quiet --target "$target" --bin checkpoint_reader
work=target/corpus/checkpoint_reader
mkdir -p "$work" artifacts
cp corpus/checkpoint_reader/* "$work"/
for g in ../../shared/golden/*/checkpoint.bin; do
    [ -f "$g" ] && cp "$g" "$work/golden-$(basename "$(dirname "$g")").bin"
done
"target/$target/release/checkpoint_reader" "$work" \
    -max_total_time="$seconds" -timeout=10 -malloc_limit_mb=1024 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix=artifacts/ 2>&1 | tail -n 25
