#!/usr/bin/env bash
# Builds and runs the libFuzzer target for the MeterlineCore parsers (see docs/fuzzing.md).
# Usage: Fuzz/run.sh [runs] [extra libFuzzer flags...]     e.g. Fuzz/run.sh 10000000 -jobs=1
# Env: FUZZ_BUILD_ONLY=1 to only build; FUZZ_OPT (default -O).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-10000000}"; shift || true
mkdir -p .build-fuzz Fuzz/corpus
# One module: every MeterlineCore source (they import nothing) plus the entry point.
mapfile -t sources < <(find Sources/MeterlineCore -name '*.swift' | sort)
swiftc -sanitize=fuzzer,address -parse-as-library ${FUZZ_OPT:--O} -module-name MeterlineCoreFuzz \
    "${sources[@]}" Fuzz/ParserFuzzer.swift -o .build-fuzz/parser-fuzzer 2> >(grep -v "Cannot export local symbol" >&2)
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0
# New interesting inputs go to .build-fuzz/corpus (not committed); the seeds in Fuzz/corpus are read only.
mkdir -p .build-fuzz/corpus
SWIFT_BACKTRACE=enable=no exec .build-fuzz/parser-fuzzer .build-fuzz/corpus Fuzz/corpus \
    -runs="$runs" -max_len=4096 -dict=Fuzz/cloudevents.dict -artifact_prefix=.build-fuzz/ -print_final_stats=1 "$@"
