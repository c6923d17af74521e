#!/usr/bin/env python3
"""yingji replay (1 and 2 threads) against DuckDB and Polars on the season
file: the level changes of the rainstorm signal (policies/rainstorm.yj),
one paired run, interleaved, several repetitions; also the same signal
partitioned by township (benches/rainstorm_by_town.yj, `partition by town`:
one engine per town, `--threads N` spreads the towns over N engine
threads), whose level changes must be the same. See BENCHMARKS.md
("Parallel replay").

    pip install duckdb polars
    cargo build --release --bin yingji
    python3 benches/gen_season.py > /tmp/season.jsonl
    python3 benches/replay_compare.py /tmp/season.jsonl [--reps 5] [--yingji target/release/yingji]

Every tool computes, from the JSONL file, per station in time order:

    r3, r6, r12 = sums of mm over the readings in (t - 3h, t], (t - 6h, t], (t - 12h, t]
    level = red if r3 >= 100, orange if r3 >= 50, yellow if r6 >= 50,
            blue if r12 >= 50, else none
    a level change = a reading whose level differs from the station's
                     previous reading's (the first compared with none)

which is what rainstorm.yj says (no `for`, `clear` or `hold`: no
hysteresis; the highest rule that holds wins; windows are half-open on
the left, as `engine/src/window.rs` evaluates them). Sums are exact:
yingji keeps millionths, the SQL and Polars queries integer tenths of a
millimetre (the file's precision). Each tool's changes (station, time,
from, to) are compared with yingji's, as sets and by a checksum.
"""
import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

POLICY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "policies", "rainstorm.yj")
# the same signal with `partition by town`: one engine per township, spread
# over the engine threads by `--threads N`
POLICY_BY_TOWN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rainstorm_by_town.yj")

LEVEL_SQL = """
CASE WHEN r3 >= 1000 THEN 'red' WHEN r3 >= 500 THEN 'orange'
     WHEN r6 >= 500 THEN 'yellow' WHEN r12 >= 500 THEN 'blue' ELSE 'none' END
"""

DUCKDB = r"""
import duckdb, sys, time, json, resource
path, out = sys.argv[1], sys.argv[2]
t0 = time.perf_counter(); c0 = time.process_time()
con = duckdb.connect()
rows = con.execute('''
WITH ev AS (
  SELECT station, epoch_ms(ts) AS t, CAST(round(mm * 10) AS BIGINT) AS mm10
  FROM read_json(?, format = 'newline_delimited',
                 columns = {ts: 'TIMESTAMPTZ', kind: 'VARCHAR', station: 'VARCHAR', town: 'VARCHAR', mm: 'DOUBLE'})
  WHERE kind = 'rain'
), w AS (
  SELECT station, t,
    SUM(mm10) OVER (PARTITION BY station ORDER BY t RANGE BETWEEN 10799999 PRECEDING AND CURRENT ROW) AS r3,
    SUM(mm10) OVER (PARTITION BY station ORDER BY t RANGE BETWEEN 21599999 PRECEDING AND CURRENT ROW) AS r6,
    SUM(mm10) OVER (PARTITION BY station ORDER BY t RANGE BETWEEN 43199999 PRECEDING AND CURRENT ROW) AS r12
  FROM ev
), l AS (
  SELECT station, t, LEVEL AS level FROM w
), c AS (
  SELECT station, t, COALESCE(LAG(level) OVER (PARTITION BY station ORDER BY t), 'none') AS prev, level FROM l
)
SELECT station, t, prev, level FROM c WHERE prev <> level
'''.replace('LEVEL', sys.argv[3]), [path]).fetchall()
wall = time.perf_counter() - t0; cpu = time.process_time() - c0
with open(out, 'w') as f:
    json.dump({'rows': rows, 'wall': wall, 'cpu': cpu}, f)
"""

POLARS = r"""
import polars as pl, sys, time, json
path, out = sys.argv[1], sys.argv[2]
t0 = time.perf_counter(); c0 = time.process_time()
schema = {'ts': pl.String, 'kind': pl.String, 'station': pl.String, 'town': pl.String, 'mm': pl.Float64}
df = (pl.scan_ndjson(path, schema=schema)
      .filter(pl.col('kind') == 'rain')
      .select(pl.col('station'),
              pl.col('ts').str.to_datetime('%Y-%m-%dT%H:%M:%S%z', time_unit='ms').alias('t'),
              (pl.col('mm') * 10).round(0).cast(pl.Int64).alias('mm10'))
      .sort('station', 't')
      .with_columns(
          pl.col('mm10').rolling_sum_by('t', window_size='3h', closed='right').over('station').alias('r3'),
          pl.col('mm10').rolling_sum_by('t', window_size='6h', closed='right').over('station').alias('r6'),
          pl.col('mm10').rolling_sum_by('t', window_size='12h', closed='right').over('station').alias('r12'))
      .with_columns(
          pl.when(pl.col('r3') >= 1000).then(pl.lit('red'))
            .when(pl.col('r3') >= 500).then(pl.lit('orange'))
            .when(pl.col('r6') >= 500).then(pl.lit('yellow'))
            .when(pl.col('r12') >= 500).then(pl.lit('blue'))
            .otherwise(pl.lit('none')).alias('level'))
      .with_columns(pl.col('level').shift(1).over('station').fill_null('none').alias('prev'))
      .filter(pl.col('prev') != pl.col('level'))
      .select('station', pl.col('t').dt.epoch('ms'), 'prev', 'level')
      .collect())
rows = df.rows()
wall = time.perf_counter() - t0; cpu = time.process_time() - c0
with open(out, 'w') as f:
    json.dump({'rows': rows, 'wall': wall, 'cpu': cpu}, f)
"""


def ts_ms(s):
    # RFC 3339 with an offset, as yingji writes it
    from datetime import datetime
    return int(datetime.fromisoformat(s).timestamp() * 1000)


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd):
    c0, t0 = child_cpu(), time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall, cpu = time.perf_counter() - t0, child_cpu() - c0
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {p.stderr.decode()[-2000:]}")
    return p, wall, cpu


def digest(rows):
    rows = sorted((str(s), int(t), str(a), str(b)) for s, t, a, b in rows)
    h = hashlib.sha256("\n".join(f"{s},{t},{a},{b}" for s, t, a, b in rows).encode()).hexdigest()
    return rows, h[:16]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("events")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--yingji", default=os.path.join("target", "release", "yingji"))
    ap.add_argument("--legs", default="", help="comma-separated leg names to run (default: all)")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="replay-compare-")
    legs = {
        "yingji --threads 1": lambda: [a.yingji, "replay", POLICY, "--events", a.events, "--threads", "1"],
        "yingji --threads 2": lambda: [a.yingji, "replay", POLICY, "--events", a.events, "--threads", "2"],
        "yingji by town --threads 1": lambda: [a.yingji, "replay", POLICY_BY_TOWN, "--events", a.events, "--threads", "1"],
        "yingji by town --threads 2": lambda: [a.yingji, "replay", POLICY_BY_TOWN, "--events", a.events, "--threads", "2"],
        "duckdb": lambda: [sys.executable, "-c", DUCKDB, a.events, os.path.join(tmp, "duckdb.json"), LEVEL_SQL],
        "polars": lambda: [sys.executable, "-c", POLARS, a.events, os.path.join(tmp, "polars.json")],
    }
    names = [n for n in legs if not a.legs or n in a.legs.split(",")]
    if "yingji --threads 1" not in names:
        names.insert(0, "yingji --threads 1")
    res = {n: {"wall": [], "cpu": [], "qwall": [], "qcpu": []} for n in names}
    results = {}
    for rep in range(a.reps):
        order = names[rep % len(names):] + names[:rep % len(names)]
        for n in order:
            p, wall, cpu = timed(legs[n]())
            res[n]["wall"].append(wall)
            res[n]["cpu"].append(cpu)
            if n.startswith("yingji"):
                rows = []
                for line in p.stdout.decode().splitlines():
                    o = json.loads(line)
                    if o.get("type") == "level_changed":
                        rows.append((o["key"], ts_ms(o["ts"]), o["from"], o["to"]))
                results.setdefault(n, digest(rows))
            else:
                with open(os.path.join(tmp, n + ".json")) as f:
                    d = json.load(f)
                res[n]["qwall"].append(d["wall"])
                res[n]["qcpu"].append(d["cpu"])
                results.setdefault(n, digest(d["rows"]))
            print(f"rep {rep + 1} {n:28} wall {wall:6.2f} s  cpu {cpu:6.2f} s", file=sys.stderr)
    ref_rows, ref = results["yingji --threads 1"]
    print(f"| leg | wall s (median, min–max) | CPU s (median, min–max) | in-process query wall / CPU s (median) | level changes | checksum |")
    print("|---|---|---|---|---|---|")
    for n in names:
        w, c = res[n]["wall"], res[n]["cpu"]
        q = (f"{statistics.median(res[n]['qwall']):.2f} / {statistics.median(res[n]['qcpu']):.2f}"
             if res[n]["qwall"] else "—")
        rows, h = results[n]
        same = "= yingji" if rows == ref_rows else "DIFFERS"
        print(f"| {n} | {statistics.median(w):.2f} ({min(w):.2f}–{max(w):.2f}) | "
              f"{statistics.median(c):.2f} ({min(c):.2f}–{max(c):.2f}) | {q} | {len(rows)} | {h} {same} |")
    mw = {n: statistics.median(res[n]["wall"]) for n in names}
    mc = {n: statistics.median(res[n]["cpu"]) for n in names}
    for other in ["duckdb", "polars"]:
        for y in [n for n in names if n.startswith("yingji")]:
            print(f"{other} / {y}: wall {mw[other] / mw[y]:.2f}x, CPU {mc[other] / mc[y]:.2f}x")
    for n in names:
        rows, _ = results[n]
        if rows != ref_rows:
            a_, b_ = set(ref_rows), set(rows)
            print(f"{n}: {len(b_ - a_)} changes yingji lacks, e.g. {sorted(b_ - a_)[:3]}; "
                  f"{len(a_ - b_)} it lacks, e.g. {sorted(a_ - b_)[:3]}")


if __name__ == "__main__":
    main()
