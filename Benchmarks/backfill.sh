#!/usr/bin/env bash
# Backfill benchmark (issue 7): `meterline backfill` end to end over a generated .jsonl.zst file, and, in the
# same run on the same data, DuckDB doing only the dedup + hourly SUM/COUNT group-by part (reference).
# Usage: Benchmarks/backfill.sh [EVENTS] [WORKDIR] [ROUNDS]   (default 20000000, /tmp/meterline-bench, 3)
# The two run in turn, ROUNDS times each (meterline, DuckDB, meterline, ...): a VM's speed drifts by tens of percent
# within minutes, so one run of each can compare two different machines. The summary gives each one's median.
# Environment: CUSTOMERS (per legal entity, default 1000) and HOURS (of event time, default EVENTS / 800k + 24) shape
# the generated file; many customers in few hours make a backfill whose cost is per window (billing events, journal
# lines, lineage keys), e.g. CUSTOMERS=50000 HOURS=1 Benchmarks/backfill.sh 2000000.
# Needs: swift, python3 with venv + pip (PyPI), GNU time (/usr/bin/time).
set -euo pipefail
EVENTS=${1:-20000000}
WORK=${2:-/tmp/meterline-bench}
ROUNDS=${3:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$WORK"
cd "$ROOT"
swift build -c release >/dev/null
M="$ROOT/.build/release/meterline"
CUSTOMERS=${CUSTOMERS:-1000}
if [ -z "${HOURS:-}" ] && [ "$CUSTOMERS" = 1000 ]; then
  HOURS=$(( EVENTS / 800000 + 24 ))   # ~800k events per hour of event time
  IN="$WORK/events-$EVENTS.jsonl.zst"
else
  HOURS=${HOURS:-$(( EVENTS / 800000 + 24 ))}
  IN="$WORK/events-$EVENTS-c$CUSTOMERS-h$HOURS.jsonl.zst"
fi
[ -f "$IN" ] || "$M" generate --events "$EVENTS" --hours "$HOURS" --customers "$CUSTOMERS" --out "$IN"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"
echo "input: $IN ($(du -h "$IN" | cut -f1), $EVENTS events, $HOURS hours of event time, $CUSTOMERS customers per legal entity)"

[ -d "$WORK/venv" ] || { python3 -m venv "$WORK/venv" && "$WORK/venv/bin/pip" install -q duckdb; }
cat > "$WORK/duck.py" <<'PY'
import sys, time, duckdb
path = sys.argv[1]
con = duckdb.connect()
con.execute(f"SET threads={sys.argv[2]}")
t = time.time()
rows = con.execute(f"""
  WITH ev AS (
    SELECT source, id, subject, type, time, data
    FROM read_json('{path}', format='newline_delimited', ignore_errors=true, compression='zstd',
                   columns={{'source':'VARCHAR','id':'VARCHAR','subject':'VARCHAR','type':'VARCHAR','time':'VARCHAR','data':'JSON'}})
  ), d AS (
    SELECT DISTINCT ON (source, id) * FROM ev WHERE id IS NOT NULL
  )
  SELECT subject, type, date_trunc('hour', CAST(time AS TIMESTAMPTZ)) AS hour,
         count(*) AS n, sum(TRY_CAST(json_extract_string(data, '$.tokens') AS DECIMAL(38,9))) AS tokens
  FROM d GROUP BY ALL
""").fetchall()
dt = time.time() - t
print(f"duckdb: {len(rows)} groups in {dt:.2f} s")
PY

# One line per run: "<tool> <wall s> <user+sys s> <peak RSS KiB>", collected in $WORK/runs.txt.
: > "$WORK/runs.txt"
for round in $(seq "$ROUNDS"); do
  echo "== round $round of $ROUNDS: meterline backfill (read, decompress, parse, validate, dedup, window, rate, journal, lineage, write all outputs)"
  rm -rf "$WORK/out"
  /usr/bin/time -f "meterline %e %U %S %M" -o "$WORK/meterline.time" "$M" backfill --config examples/meterline.yaml \
    --from 2026-09-01T00:00:00Z --to 2027-01-01T00:00:00Z --input "$IN" --out "$WORK/out" 2>"$WORK/meterline.err" > "$WORK/meterline.out"
  [ "$round" = 1 ] && tail -25 "$WORK/meterline.out"
  awk '{ printf "%s %s %.2f %s\n", $1, $2, $3 + $4, $5 }' "$WORK/meterline.time" | tee -a "$WORK/runs.txt"
  echo "== round $round of $ROUNDS: DuckDB reference (dedup by (source, id) + hourly SUM/COUNT group-by only), threads=$(nproc)"
  /usr/bin/time -f "duckdb %e %U %S %M" -o "$WORK/duckdb.time" "$WORK/venv/bin/python" "$WORK/duck.py" "$IN" "$(nproc)"
  awk '{ printf "%s %s %.2f %s\n", $1, $2, $3 + $4, $5 }' "$WORK/duckdb.time" | tee -a "$WORK/runs.txt"
done

echo "== summary ($ROUNDS rounds; median wall and CPU, largest peak RSS)"
python3 - "$WORK/runs.txt" "$EVENTS" "$(nproc)" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    tool, wall, cpu, rss = line.split()
    runs.setdefault(tool, []).append((float(wall), float(cpu), int(rss)))
events = int(sys.argv[2])
summary = {}
for tool, rs in runs.items():
    wall = statistics.median(r[0] for r in rs)
    cpu = statistics.median(r[1] for r in rs)
    rss = max(r[2] for r in rs)
    summary[tool] = (wall, cpu, rss)
    walls = ", ".join(f"{r[0]:.2f}" for r in rs)
    print(f"{tool:9} wall {wall:6.2f} s (runs: {walls}), {events / wall / 1e6:.2f} M events/s, "
          f"CPU {cpu:6.2f} s ({cpu / events * 1e9:.0f} ns per event), peak RSS {rss / 1048576:.2f} GiB")
m, d = summary["meterline"], summary["duckdb"]
print(f"meterline / DuckDB: {d[0] / m[0]:.2f}x speed (median walls), {m[2] / d[2]:.3f}x peak memory")
# The same comparison by CPU, which a VM's stalls move less than wall time: what the median CPU per event allows on
# this many cores with every core busy, and the ratio of CPU per event.
cores = int(sys.argv[3])
print(f"by CPU: meterline's median CPU per event allows {cores / (m[1] / events) / 1e6:.2f} M events/s on {cores} busy cores; "
      f"DuckDB uses {d[1] / m[1]:.2f}x its CPU per event")
PY
