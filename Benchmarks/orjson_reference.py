#!/usr/bin/env python3
"""Reference for Parse_validate_CloudEvent: orjson.loads over the same lines the Core suite generated.

Usage: python3 orjson_reference.py [/tmp/meterline-bench-events.jsonl] [repeats]
Prints the best of `repeats` passes over all lines, in ns per event and events/s (one thread).
"""
import sys
import time

import orjson

path = sys.argv[1] if len(sys.argv) > 1 else "/tmp/meterline-bench-events.jsonl"
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 50
with open(path, "rb") as f:
    lines = f.read().splitlines()
loads = orjson.loads
best = float("inf")
for _ in range(repeats):
    t0 = time.perf_counter_ns()
    for line in lines:
        loads(line)
    best = min(best, time.perf_counter_ns() - t0)
per = best / len(lines)
print(f"orjson {orjson.__version__}: {len(lines)} lines, avg {sum(map(len, lines)) / len(lines):.0f} bytes, "
      f"best of {repeats}: {per:.0f} ns/event, {1e9 / per / 1e6:.3f} M events/s")
