"""Paired per-seed differences of test top-1 from a Table 9 sweep's results.csv.

    python3 docs/results/seed003-table9-uda/summarize.py runs/sweeps/seed003-table9-uda/quick/results.csv
"""
import csv
import statistics as st
import sys

rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["status"] == "finished"]
top1 = {(r["labels"], r["method"], r["seed"]): 100 * float(r["top1"]) for r in rows}
pairs = [("UDA + RandAugment", "supervised only"), ("UDA + KeepRandAugment", "supervised only"),
         ("UDA + KeepRandAugment", "UDA + RandAugment")]
print("| labels | comparison | seeds | mean diff (pp) | std | seeds where first is higher |")
print("|---|---|---|---|---|---|")
for labels in sorted({k[0] for k in top1}, key=int, reverse=True):
    for a, b in pairs:
        d = [top1[(labels, a, s)] - top1[(labels, b, s)]
             for s in sorted({k[2] for k in top1}) if (labels, a, s) in top1 and (labels, b, s) in top1]
        if d:
            sd = f"{st.stdev(d):.2f}" if len(d) > 1 else "–"
            print(f"| {labels} | {a} − {b} | {len(d)} | {st.mean(d):+.2f} | {sd} | {sum(x > 0 for x in d)}/{len(d)} |")
