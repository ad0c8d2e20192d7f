#!/usr/bin/env bash
# Lineage benchmark (issue 6): lineage bytes per event against `zstd -19` on the same JSONL, LineageWriter throughput
# in isolation (package-benchmark suite `Lineage`), and `meterline lineage show` latency for one journal line of a
# 10-million-event period (end to end, and open + query in process).
# Usage: Benchmarks/lineage.sh [EVENTS] [WORKDIR]        (default 10000000, /tmp/lb)
# Env: SKIP_ZSTD19=1 skips the (slow, ~15 min) zstd -19 reference; SKIP_SUITE=1 skips the package-benchmark suite.
# Needs: swift, zstd CLI, python3, GNU time (/usr/bin/time). One build at a time (the machine is shared).
set -euo pipefail
EVENTS=${1:-10000000}
WORK=${2:-/tmp/lb}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRATCH="$ROOT/.build-lb"
mkdir -p "$WORK"
cd "$ROOT"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB; $(zstd --version | head -1); commit $(git rev-parse --short HEAD)"
swift build -c release --scratch-path "$SCRATCH" >/dev/null
M="$SCRATCH/release/meterline"
EV="$WORK/ev.jsonl"
[ -f "$EV" ] || "$M" generate --events "$EVENTS" --out "$EV"
echo "input: $EV ($(du -h "$EV" | cut -f1), $EVENTS events)"

echo "== 1. lineage bytes per event (meterline backfill writes DIR/lineage/*.mlz)"
rm -rf "$WORK/bf"
/usr/bin/time -f "backfill: wall %e s, peak RSS %M KiB" "$M" backfill --config examples/meterline.yaml \
  --from 2026-09-01T00:00:00Z --to 2027-01-01T00:00:00Z --input "$EV" --out "$WORK/bf" 2>"$WORK/backfill.err" | tail -3
grep -E "^backfill: wall" "$WORK/backfill.err"
LINEAGE_BYTES=$(cat "$WORK"/bf/lineage/*.mlz | wc -c)
ACCEPTED=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['accepted'])" "$WORK/bf/report.json")
echo "lineage: $(ls "$WORK"/bf/lineage/*.mlz | wc -l) files, $LINEAGE_BYTES bytes, $ACCEPTED accepted events: $(python3 -c "print(f'{$LINEAGE_BYTES/$ACCEPTED:.2f}')") B/event"
JSONL_BYTES=$(wc -c < "$EV")
echo "input JSONL: $JSONL_BYTES bytes, $(python3 -c "print(f'{$JSONL_BYTES/$EVENTS:.1f}')") B/event"
if [ "${SKIP_ZSTD19:-0}" != 1 ]; then
  /usr/bin/time -f "zstd -19 -T1: wall %e s, user %U s" zstd -19 -T1 -c "$EV" 2>"$WORK/zstd19.err" | wc -c > "$WORK/zstd19.bytes"
  Z=$(cat "$WORK/zstd19.bytes")
  grep -E "^zstd" "$WORK/zstd19.err"
  echo "zstd -19 -T1 of the JSONL: $Z bytes, $(python3 -c "print(f'{$Z/$EVENTS:.2f}')") B/event (all $EVENTS events, every field); lineage/zstd = $(python3 -c "print(f'{($LINEAGE_BYTES/$ACCEPTED)/($Z/$EVENTS):.2f}')")"
fi

echo "== 3. meterline lineage show, one journal line of the backfill (period of $ACCEPTED events)"
# The journal line with the most billing events (ties: the first).
LINE=$(python3 - "$WORK/bf/journal-entries.jsonl" <<'PY'
import json, sys
best = (-1, "")
for l in open(sys.argv[1]):
    for x in json.loads(l)["lines"]:
        if len(x["billingEvents"]) > best[0]: best = (len(x["billingEvents"]), x["lineId"])
print(best[1])
PY
)
echo "journal line $LINE; billing-events.jsonl $(wc -l < "$WORK/bf/billing-events.jsonl") lines, $(du -h "$WORK/bf/billing-events.jsonl" | cut -f1); journal-entries.jsonl $(du -h "$WORK/bf/journal-entries.jsonl" | cut -f1)"
"$M" lineage show --dir "$WORK/bf" --journal-line "$LINE" > "$WORK/show.txt" # warm the page cache
sed -n '4p;9p' "$WORK/show.txt"
for i in 1 2 3 4 5; do
  /usr/bin/time -f "lineage show (text): wall %e s, user %U s, sys %S s, peak RSS %M KiB" "$M" lineage show --dir "$WORK/bf" --journal-line "$LINE" 2>&1 >/dev/null
done
for i in 1 2 3; do
  /usr/bin/time -f "lineage show --json: wall %e s, user %U s, sys %S s, peak RSS %M KiB" "$M" lineage show --json --dir "$WORK/bf" --journal-line "$LINE" 2>&1 >/dev/null
done

echo "== 2. LineageWriter in isolation (+ 3. open + query in process): cd Benchmarks && swift package benchmark --target Lineage"
if [ "${SKIP_SUITE:-0}" != 1 ]; then
  cd "$ROOT/Benchmarks"
  METERLINE_LINEAGE_DIR="$WORK/bf" METERLINE_LINEAGE_LINE="$LINE" \
    swift package --scratch-path "$SCRATCH/bench" --disable-sandbox benchmark --target Lineage --no-progress 2>&1 \
    | grep -vE "^\[[0-9]+/[0-9]+\]|^Building|^Build of|Compiling|^warning"
fi
