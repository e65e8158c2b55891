#!/usr/bin/env python3
"""Markdown tables of docs/results.md from a sweep's results (ssmsim sweep --out-dir D).

  scripts/sweep_tables.py sensitivity D   # seed_s4d_ptq: accuracy per component and width
  scripts/sweep_tables.py hw D            # hw_dse: cycles/token and nJ/token per lanes x banks
  scripts/sweep_tables.py points D        # any sweep: one row per point
"""
import glob
import json
import os
import sys


def load(d):
    rows, seen = [], set()
    for f in [os.path.join(d, "results.jsonl")] + sorted(glob.glob(os.path.join(d, "*", "results.jsonl"))):
        if os.path.exists(f):
            for line in open(f):
                r = json.loads(line)
                if r["id"] not in seen:
                    seen.add(r["id"])
                    rows.append(r)
    if not rows:
        sys.exit(f"error: no results.jsonl in {d}: run `ssmsim sweep --out-dir {d}` first")
    return sorted(rows, key=lambda r: r["index"])


def sensitivity(rows):
    tab, widths = {}, []
    for r in rows:
        if "=" not in r["point"]["precision"]:
            continue  # not a sensitivity point (a file or a given model of the same sweep)
        comp, bits = r["point"]["precision"].split(" ")[1].split("=")
        tab.setdefault(comp, {})[int(bits)] = r
        widths = sorted({int(b) for c in tab.values() for b in c}, reverse=True)
    print("| component | " + " | ".join(f"{b} bits" for b in widths) + " |")
    print("|---|" + "---|" * len(widths))
    for comp, by in tab.items():
        print(f"| {comp} | " + " | ".join(f"{100 * by[b]['accuracy']:.2f}" for b in widths) + " |")
    print()
    print("Energy per token (nJ) on the point's hardware:")
    print()
    print("| component | " + " | ".join(f"{b} bits" for b in widths) + " |")
    print("|---|" + "---|" * len(widths))
    for comp, by in tab.items():
        print(f"| {comp} | " + " | ".join(f"{by[b]['energy_nj_per_token']:.2f}" for b in widths) + " |")


def hw(rows):
    tab = {}
    for r in rows:
        o = r["point"]["hw_overrides"]
        tab[(int(o["cmac_lanes"]), int(o["state_mem.banks"]), float(o.get("clock_mhz", 0)))] = r
    lanes = sorted({k[0] for k in tab})
    banks = sorted({k[1] for k in tab})
    clocks = sorted({k[2] for k in tab})
    for clk in clocks:
        print(f"Cycles per token / nJ per token at {clk:g} MHz (latency per token = cycles / clock):")
        print()
        print("| CMAC lanes | " + " | ".join(f"{b} bank(s)" for b in banks) + " | area mm² |")
        print("|---|" + "---|" * (len(banks) + 1))
        for l in lanes:
            cells = [f"{tab[(l, b, clk)]['cycles_per_token']:.1f} / {tab[(l, b, clk)]['energy_nj_per_token']:.2f}" for b in banks]
            print(f"| {l} | " + " | ".join(cells) + f" | {tab[(l, banks[-1], clk)]['area_mm2']:.3f} |")
        print()


def state_bits(r, d):
    """The point's stored state bits: its record's, or (records of sweeps before the field) its
    simulate record, logs/<id>.simulate.json."""
    if "state_bits" in r:
        return r["state_bits"]
    for f in [os.path.join(d, "logs", r["id"] + ".simulate.json")] + glob.glob(os.path.join(d, "*", "logs", r["id"] + ".simulate.json")):
        if os.path.exists(f):
            return json.load(open(f)).get("state_bits", "—")
    return "—"


def points(rows, d):
    print("| point | accuracy | bit_exact | nJ/token | µs/token | weight bits | state bits | vs float32 | area mm² |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['label']} | {100 * r['accuracy']:.2f}% | {str(r['bit_exact']).lower()} | {r['energy_nj_per_token']:.2f} | "
              f"{r['latency_us_per_token']:.3f} | {r['memory_bits']} | {state_bits(r, d)} | {r['footprint_reduction']:.2f}x | "
              f"{r['area_mm2']:.3f} |")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("sensitivity", "hw", "points"):
        sys.exit(__doc__)
    if sys.argv[1] == "points":
        points(load(sys.argv[2]), sys.argv[2])
    else:
        {"sensitivity": sensitivity, "hw": hw}[sys.argv[1]](load(sys.argv[2]))
