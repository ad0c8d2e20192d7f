#!/usr/bin/env bash
# Backfill benchmark (issue 7): `meterline backfill` end to end over a generated .jsonl.zst file, and, in the
# same run on the same data, DuckDB doing only the dedup + hourly SUM/COUNT group-by part (reference).
# Usage: Benchmarks/backfill.sh [EVENTS] [WORKDIR]      (default 20000000, /tmp/meterline-bench)
# Needs: swift, python3 with venv + pip (PyPI), GNU time (/usr/bin/time).
set -euo pipefail
EVENTS=${1:-20000000}
WORK=${2:-/tmp/meterline-bench}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$WORK"
cd "$ROOT"
swift build -c release >/dev/null
M="$ROOT/.build/release/meterline"
IN="$WORK/events-$EVENTS.jsonl.zst"
HOURS=$(( EVENTS / 800000 + 24 ))   # ~800k events per hour of event time
[ -f "$IN" ] || "$M" generate --events "$EVENTS" --hours "$HOURS" --out "$IN"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"
echo "input: $IN ($(du -h "$IN" | cut -f1), $EVENTS events, $HOURS hours of event time)"

echo "== meterline backfill (read, decompress, parse, validate, dedup, window, rate, journal, lineage, write all outputs)"
rm -rf "$WORK/out"
/usr/bin/time -f "meterline: wall %e s, peak RSS %M KiB" "$M" backfill --config examples/meterline.yaml \
  --from 2026-09-01T00:00:00Z --to 2027-01-01T00:00:00Z --input "$IN" --out "$WORK/out" 2>"$WORK/meterline.err" | tail -25
grep -E "^meterline:" "$WORK/meterline.err"

echo "== DuckDB reference (dedup by (source, id) + hourly SUM/COUNT group-by only), threads=$(nproc)"
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
/usr/bin/time -f "duckdb: wall %e s, peak RSS %M KiB" "$WORK/venv/bin/python" "$WORK/duck.py" "$IN" "$(nproc)" 2>&1 | tail -3
