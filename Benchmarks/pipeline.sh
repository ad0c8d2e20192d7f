#!/usr/bin/env bash
# In-memory pipeline benchmark (issue 5): package-benchmark `Pipeline_100k_customers_{1_shard,2_shards}`
# (10M events over one hour of event time, 100k customers, 0.5 % duplicates, parse → validate → dedup → hourly window → rate → lineage),
# the floors under it on the same events (`Floor_parse`, `Floor_parse_dedup`, `Floor_parse_dedup_sum`: only that much
# of the per-event work, one thread; Benchmarks/Benchmarks/Pipeline/Floor.swift), and, in the same run on the same
# events as a JSONL file, DuckDB doing dedup by (source, id) + hourly SUM/COUNT group-by per (subject, type, model)
# with 1 and 2 threads (reference; pip duckdb in a venv this script creates).
# Usage: Benchmarks/pipeline.sh [WORKDIR]      (default /tmp/meterline-bench)
# Needs: swift, python3 with venv + pip (PyPI), GNU time (/usr/bin/time).
set -euo pipefail
WORK=${1:-/tmp/meterline-bench}
ROOT=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$WORK"
export METERLINE_BENCH_PIPELINE_EVENTS="$WORK/pipeline-events.jsonl"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"

echo "== Meterline in-memory pipeline (package-benchmark, release)"
cd "$ROOT"
swift package --disable-sandbox benchmark --target Pipeline --filter 'Pipeline_100k_customers.*|Floor_.*' --format markdown \
  --no-progress 2>&1 | tee "$WORK/pipeline-bench.txt" | grep -E "^#|Events/s|Memory|wall clock|Malloc"

echo "== DuckDB reference on $(wc -l < "$METERLINE_BENCH_PIPELINE_EVENTS") lines ($(du -h "$METERLINE_BENCH_PIPELINE_EVENTS" | cut -f1))"
[ -d "$WORK/venv" ] || { python3 -m venv "$WORK/venv" && "$WORK/venv/bin/pip" install -q duckdb; }
cat > "$WORK/duck-pipeline.py" <<'PY'
import sys, time, duckdb
path, threads = sys.argv[1], int(sys.argv[2])
con = duckdb.connect()
con.execute(f"SET threads={threads}")
best = None
for _ in range(3):
    t = time.time()
    rows = con.execute(f"""
      WITH ev AS (
        SELECT source, id, subject, type, time, data
        FROM read_json('{path}', format='newline_delimited',
                       columns={{'source':'VARCHAR','id':'VARCHAR','subject':'VARCHAR','type':'VARCHAR','time':'VARCHAR','data':'JSON'}})
      ), d AS (SELECT DISTINCT ON (source, id) * FROM ev)
      SELECT subject, type, json_extract_string(data, '$.model') AS model, date_trunc('hour', CAST(time AS TIMESTAMPTZ)) AS hour,
             count(*) AS n, sum(TRY_CAST(json_extract_string(data, '$.tokens') AS DECIMAL(38,9))) AS tokens
      FROM d GROUP BY ALL
    """).fetchall()
    dt = time.time() - t
    best = dt if best is None or dt < best else best
n = con.execute(f"SELECT count(*) FROM read_json('{path}', format='newline_delimited', columns={{'id':'VARCHAR'}})").fetchone()[0]
print(f"duckdb {duckdb.__version__} threads={threads}: {len(rows)} groups, best of 3 {best:.3f} s, {n / best / 1e3:.0f} K events/s")
PY
for t in 1 2; do
  /usr/bin/time -f "duckdb threads=$t: peak RSS %M KiB" "$WORK/venv/bin/python" "$WORK/duck-pipeline.py" "$METERLINE_BENCH_PIPELINE_EVENTS" $t 2>&1 | tee -a "$WORK/duck.txt"
done
