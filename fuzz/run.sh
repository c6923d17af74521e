#!/usr/bin/env bash
# Fuzzing yingji (cargo-fuzz, libFuzzer). See docs/testing.md.
#
#   fuzz/run.sh seed               build the seed corpora from the bundled files
#   fuzz/run.sh ci [SECONDS]       seed, then run every target SECONDS (default 20) each
#   fuzz/run.sh long TARGET [SECONDS] [JOBS]
#                                  one target for SECONDS (default: until stopped)
#
# Works on a stable toolchain: `-s none` (no sanitizer: the code is safe Rust,
# `unsafe_code = "forbid"`) needs no nightly flags. Needs cargo-fuzz
# (`cargo install cargo-fuzz --locked`) and a C++ compiler (libFuzzer).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$here"
corpus="$here/corpus"
TARGETS=(dsl_text policy_yaml plan_yaml event_lines snapshot_bytes snapshot_structured assess_records expr_gen)

# one file per seed, named by its content hash (so reseeding is idempotent)
put() { # put TARGET < data
    local dir="$corpus/$1" tmp
    mkdir -p "$dir"
    tmp="$(mktemp)"
    cat > "$tmp"
    mv "$tmp" "$dir/seed-$(sha1sum "$tmp" | cut -c1-16)"
}

seed() {
    echo "== fuzz: seed corpora from policies/, plans/, samples/, tests/"
    for f in "$root"/policies/*.yj "$root"/tests/one_clock/*.yj; do put dsl_text < "$f"; done
    for f in "$root"/tests/twins/*.yaml; do put policy_yaml < "$f"; done
    for f in "$root"/plans/*.yaml "$root"/tests/one_clock/*.yaml; do put plan_yaml < "$f"; done
    # event streams: the first byte picks the snapshot cut, then up to 64 lines
    for f in "$root"/samples/rain.jsonl "$root"/samples/landslide.jsonl "$root"/plans/samples/flood_acks.jsonl; do
        local n i
        n=$(wc -l < "$f")
        for ((i = 1; i <= n && i <= 1200; i += 150)); do
            { printf '\x11'; sed -n "${i},$((i + 39))p" "$f"; } | put event_lines
        done
    done
    { printf '\x03'; head -n 20 "$root"/samples/records.jsonl; } | put event_lines
    put assess_records < "$root"/samples/records.jsonl
    head -n 5 "$root"/samples/records.jsonl | put assess_records
    # state files written by the CLI at a few points of the sample streams
    local yj="$root/target/release/yingji" tmp
    if [ ! -x "$yj" ]; then (cd "$root" && cargo build --release --quiet); fi
    tmp="$(mktemp -d)"
    for lines in 50 400 1500; do
        head -n "$lines" "$root"/samples/rain.jsonl > "$tmp/ev.jsonl"
        cat "$root"/plans/samples/flood_acks.jsonl >> "$tmp/ev.jsonl"
        (cd "$root" && "$yj" run policies plans --events "$tmp/ev.jsonl" --state "$tmp/s.state" > /dev/null 2>&1) || true
        put snapshot_bytes < "$tmp/s.state"
        rm -f "$tmp/s.state"
    done
    rm -rf "$tmp"
    mkdir -p "$corpus/snapshot_structured" "$corpus/expr_gen"
    for t in "${TARGETS[@]}"; do echo "   $t: $(ls "$corpus/$t" | wc -l) seed(s)"; done
}

run_target() { # run_target TARGET SECONDS [JOBS]
    local t="$1" secs="$2" jobs="${3:-1}" args=()
    [ "$secs" -gt 0 ] && args+=("-max_total_time=$secs")
    [ "$jobs" -gt 1 ] && args+=("-fork=$jobs")
    echo "== fuzz: $t (${secs}s)"
    # -rss_limit_mb: a run that holds more is a finding (bounded memory)
    cargo fuzz run -s none --release "$t" "$corpus/$t" -- \
        -rss_limit_mb=2048 -timeout=10 -max_len=65536 -print_final_stats=1 "${args[@]}" 2>&1 |
        grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|==|SUMMARY|.*panicked|Done|artifact_prefix|Test unit written)' || true
    # libFuzzer wrote an artifact: a crash, a timeout or an out-of-memory
    if compgen -G "$here/artifacts/$t/*" > /dev/null; then
        echo "fuzz target $t failed: see $here/artifacts/$t/ (reproduce: cargo fuzz run -s none $t <file>)" >&2
        return 1
    fi
}

case "${1:-ci}" in
    seed) seed ;;
    ci)
        secs="${2:-20}"
        seed
        cargo fuzz build -s none --release
        failed=0
        for t in "${TARGETS[@]}"; do run_target "$t" "$secs" || failed=1; done
        exit "$failed"
        ;;
    long)
        [ -d "$corpus/${2:?target}" ] || seed
        run_target "$2" "${3:-0}" "${4:-1}"
        ;;
    *) echo "usage: $0 seed | ci [SECONDS] | long TARGET [SECONDS] [JOBS]" >&2; exit 2 ;;
esac
