"""Reads the JSON lines of bench/train-bench.sh and prints the markdown table with ratios."""

import json
import sys

rows, gemm = [], {}
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("{"):
        continue
    obj = json.loads(line)
    if "gemm" in obj:
        gemm = obj["gemm"]
    else:
        rows.append(obj)

peak = gemm.get("square 1024")
ours = {r["variant"]: r for r in rows if r["impl"] == "nn-core"}
print("| impl | variant | s/epoch (wall) | s/epoch (thread CPU) | samples/s | GFLOP/s (wall) | GFLOP/s (CPU) | % of GEMM peak (CPU) | test acc | peak MB | MB over data | our time / theirs (wall, CPU) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    cpu = r.get("cpu_sec_per_epoch")
    gflops_cpu = r["gflop_per_epoch"] / cpu if cpu else None
    share = f"{100 * gflops_cpu / peak:.0f} %" if gflops_cpu and peak else "-"
    mine = ours.get(r["variant"])
    ratio = "-"
    if mine and r["impl"] != "nn-core":
        ratio = f"{mine['sec_per_epoch'] / r['sec_per_epoch']:.2f}×, {mine['cpu_sec_per_epoch'] / cpu:.2f}×"
    print(f"| {r['impl']} | {r['variant']} | {r['sec_per_epoch']:.3f} | {cpu:.3f} | {r['samples_per_s']:.0f} | "
          f"{r['gflops']:.1f} | {gflops_cpu:.1f} | {share} | {r['test_accuracy']:.4f} | {r['peak_mb']:.0f} | "
          f"{r['peak_mb'] - r['data_mb']:.0f} | {ratio} |")
if gemm:
    print()
    print("One-core f32 GEMM (faer, thread CPU time): " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in gemm.items()))
