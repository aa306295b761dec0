#!/usr/bin/env python3
"""Checks one bench/results/*.json of a complete run (scripts/bench-smoke.sh): every target ran
every workload of the run without an error, tdefs' four ratios are there, and the table and the
plot were written next to it. Prints what is missing and exits 1, or prints a one-line summary."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from bench import ALL_TARGETS, METRICS  # noqa: E402  (the benchmark's own lists)


def metric_keys(workloads):
    """The figures a run of these workloads reports: bench.py names each after its workload."""
    return [k for k, *_ in METRICS if any(k.startswith(w + "_") for w in workloads)]


def problems(result, path):
    out = []
    cfg, summ = result["config"], result["summary"]
    if sorted(cfg["targets"]) != sorted(ALL_TARGETS):
        out.append(f"targets {cfg['targets']}, not all of {ALL_TARGETS}")
    for t, errs in summ.get("errors", {}).items():
        out += [f"{t}: {e[:300]}" for e in errs]
    if not cfg["workloads"]:
        out.append("no workloads ran")
    for k in metric_keys(cfg["workloads"]):
        m = summ["metrics"].get(k)
        if m is None:
            out.append(f"{k}: no figure at all")
            continue
        missing = [t for t in cfg["targets"] if m["values"].get(t, {}).get("median") is None]
        if missing:
            out.append(f"{k}: no figure for {', '.join(missing)}")
        for r in ("ratio_raw", "ratio_passthrough", "ratio_fair", "ratio_best_peer"):
            if m.get(r) is None:
                out.append(f"{k}: no {r}")
    rss = summ.get("daemon", {}).get("tdefs", {})
    if not rss:
        out.append("no daemon cost (peak RSS, CPU) for tdefs")
    base = os.path.splitext(path)[0]
    for ext in (".md", ".png"):
        if not os.path.exists(base + ext) or os.path.getsize(base + ext) == 0:
            out.append(f"{base + ext} was not written")
    return out


def main(path):
    with open(path) as f:
        result = json.load(f)
    found = problems(result, path)
    if found:
        print(f"check_bench_result: {path}:")
        for p in found:
            print(f"  {p}")
        return 1
    n = len(metric_keys(result["config"]["workloads"]))
    print(f"check_bench_result: {path}: {len(result['config']['targets'])} targets x {n} figures, "
          "no errors, table and plot written")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
