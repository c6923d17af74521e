#!/usr/bin/env python3
"""The season-sized stream of BENCHMARKS.md ("yingji run on a season"):
400 rain gauges YY-001..YY-400 in eight Yunyang townships, one reading every
10 minutes for 30 days from 2024-07-01 (+08:00), three storms per gauge and
some drizzle, from a fixed seed: 1,728,000 lines, 168 MB.

    python3 benches/gen_season.py > /tmp/season.jsonl
"""
import datetime
import math
import random
import sys

random.seed(7)
towns = ["双江街道", "青龙街道", "南溪镇", "江口镇", "故陵镇", "人和街道", "盘龙街道", "高阳镇"]
start = datetime.datetime(2024, 7, 1, 0, 0)
N, DAYS, STEP = 400, 30, 10
storms = {s: [(random.uniform(0, DAYS * 24), random.uniform(1, 4), random.uniform(0.5, 8))
              for _ in range(3)] for s in range(N)}
out = sys.stdout
for k in range(DAYS * 24 * 60 // STEP):
    t = start + datetime.timedelta(minutes=k * STEP)
    ts = t.strftime("%Y-%m-%dT%H:%M:%S+08:00")
    h = k * STEP / 60
    for s in range(N):
        mm = 0.0
        for (c, w, p) in storms[s]:
            d = (h - c) / w
            if abs(d) < 3:
                mm += p * math.exp(-d * d)
        if random.random() < 0.05:
            mm += random.random() * 0.3
        out.write('{"ts":"%s","kind":"rain","station":"YY-%03d","town":"%s","mm":%.1f}\n'
                  % (ts, s + 1, towns[s % len(towns)], mm))
