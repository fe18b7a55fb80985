#!/usr/bin/env python3
"""Prints the median of every criterion benchmark under target/criterion.

Usage: tools/criterion_medians.py [target/criterion] > medians.tsv
Columns: benchmark id, median ns, lower and upper bound of the median's
confidence interval, and elements per second when the bench declares a
throughput.
"""
import glob
import json
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
print("benchmark\tmedian_ns\tlow_ns\thigh_ns\telements_per_s")
for path in sorted(glob.glob(os.path.join(root, "**", "new", "estimates.json"), recursive=True)):
    estimates = json.load(open(path))
    bench = json.load(open(path.replace("estimates.json", "benchmark.json")))
    median = estimates["median"]
    ns = median["point_estimate"]
    throughput = bench.get("throughput") or {}
    per_s = throughput.get("Elements", 0) / ns * 1e9 if "Elements" in throughput else ""
    print(f"{bench['full_id']}\t{ns:.1f}\t{median['confidence_interval']['lower_bound']:.1f}\t"
          f"{median['confidence_interval']['upper_bound']:.1f}\t{per_s if per_s == '' else f'{per_s:.0f}'}")
