"""The tables of scripts/gpu-ab.sh from the rows its parts wrote into OUT.

    python3 scripts/gpu-tables.py OUT

* OUT/step.csv and its table: every geobatch variant's step against PyTorch eager (the ratio)
  and torch.compile, per model and batch size, from OUT/raw.csv; the autotuned build's cached
  pass joins as the variant `autotune-minimal (cached)`.
* The autotuning: tuning seconds (the tuning pass's wall time less the cached pass's) and both
  passes' steps, from OUT/autotune.csv and OUT/autotune-raw-PASS.csv.
* The force step: geobatch against PyTorch's double backward per batch size, from
  OUT/forces.csv (written to OUT/forces-table.csv).
* The profile: CubeCL's per-kernel device times of OUT/profile.log summed by kernel (its first
  name), largest first (OUT/profile-table.csv).
"""

import csv
import os
import sys


def rows_of(path):
    """The rows of a CSV file, none when it was not written."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def fmt(x, spec):
    return "" if x is None else format(x, spec)


def step_table(out):
    rows = rows_of(os.path.join(out, "raw.csv"))
    for r in rows_of(os.path.join(out, "autotune-raw-cached.csv")):
        rows.append({**r, "variant": "autotune-minimal (cached)"})
    if not rows:
        print("no step rows were measured")
        return

    def torch_ms(variant):
        return {(r["model"], r["bs"]): float(r["median_ms"]) for r in rows
                if r["engine"] == "torch" and r["variant"] == variant}

    eager, compiled = torch_ms("eager"), torch_ms("compile")
    table = []
    for r in rows:
        if r["engine"] != "geobatch":
            continue
        key = (r["model"], r["bs"])
        ms, ref = float(r["median_ms"]), eager.get(key)
        table.append((r["model"], int(r["bs"]), r["variant"], ms, ref, ms / ref if ref else None,
                      compiled.get(key)))
    with open(os.path.join(out, "step.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "bs", "variant", "geobatch_ms", "pytorch_ms", "ratio", "pytorch_compile_ms"])
        for m, bs, v, ms, ref, ratio, comp in table:
            w.writerow([m, bs, v, f"{ms:.3f}", fmt(ref, ".3f"), fmt(ratio, ".3f"), fmt(comp, ".3f")])
    print(f"{'model':<7} {'bs':>4}  {'variant':<50} {'ms':>9} {'PyTorch':>8} {'ratio':>6} {'compiled':>9}")
    for m, bs, v, ms, ref, ratio, comp in table:
        print(f"{m:<7} {bs:>4}  {v:<50} {ms:>9.2f} {fmt(ref, '.2f'):>8} {fmt(ratio, '.2f'):>6} "
              f"{fmt(comp, '.2f'):>9}")


def autotune_table(out):
    path = os.path.join(out, "autotune.csv")
    if not os.path.exists(path):
        return
    with open(path) as f:
        passes = {name: (int(wall), int(rc)) for name, wall, rc in csv.reader(f)}
    print("\nautotune (CUBECL_AUTOTUNE_LEVEL=minimal, SchNet, default engine):")
    for name, (wall, rc) in passes.items():
        steps = ", ".join(f"bs {r['bs']} {float(r['median_ms']):.2f} ms"
                          for r in rows_of(os.path.join(out, f"autotune-raw-{name}.csv")))
        print(f"  {name} pass: {wall} s wall, exit {rc}; steps: {steps or 'none measured'}")
    if "tune" in passes and "cached" in passes:
        print(f"  tuning: {passes['tune'][0] - passes['cached'][0]} s (the tuning pass's wall time less "
              "the cached pass's)")


def forces_table(out):
    rows = rows_of(os.path.join(out, "forces.csv"))
    if not rows:
        return
    by = {}
    for r in rows:
        by.setdefault(int(r["bs"]), {})[r["engine"]] = float(r["median_ms"])
    with open(os.path.join(out, "forces-table.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["bs", "geobatch_ms", "pytorch_ms", "ratio"])
        print("\nSchNet energy + forces + stress step on mlearn (ms): geobatch, PyTorch double backward, ratio")
        for bs in sorted(by):
            g, t = by[bs].get("geobatch"), by[bs].get("torch")
            ratio = g / t if g and t else None
            w.writerow([bs, fmt(g, ".3f"), fmt(t, ".3f"), fmt(ratio, ".3f")])
            print(f"  bs {bs:>3}: {fmt(g, '.2f'):>8} {fmt(t, '.2f'):>8} {fmt(ratio, '.2f'):>6}")


UNITS = {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1e3}


def duration_ms(text):
    """A Rust `Duration` as Debug prints it (`858.791µs`, `1.12ms`, `2.5s`) in ms, or None."""
    for unit in sorted(UNITS, key=len, reverse=True):
        if text.endswith(unit):
            try:
                return float(text[: -len(unit)]) * UNITS[unit]
            except ValueError:
                return None
    return None


def profile_table(out):
    path = os.path.join(out, "profile.log")
    if not os.path.exists(path):
        return
    total, count = {}, {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            # one kernel: `| 858.791µs  | SelectKernel | WgpuRuntime`; the summaries' rows have
            # the name first
            parts = [p.strip() for p in line.strip().strip("|").split("|")]
            if len(parts) < 2:
                continue
            ms = duration_ms(parts[0])
            if ms is None:
                continue
            total[parts[1]] = total.get(parts[1], 0.0) + ms
            count[parts[1]] = count.get(parts[1], 0) + 1
    if not total:
        print("\nprofile: no kernel timed")
        return
    whole = sum(total.values())
    ranked = sorted(total.items(), key=lambda kv: -kv[1])
    with open(os.path.join(out, "profile-table.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["kernel", "launches", "ms", "share"])
        for name, ms in ranked:
            w.writerow([name, count[name], f"{ms:.3f}", f"{ms / whole:.4f}"])
    print(f"\nprofile (SchNet, default engine; every kernel synchronised, {whole:.1f} ms in all):")
    for name, ms in ranked[:12]:
        print(f"  {name:<28} {count[name]:>6} launches {ms:>10.2f} ms {100 * ms / whole:>5.1f}%")


def main():
    out = sys.argv[1]
    step_table(out)
    autotune_table(out)
    forces_table(out)
    profile_table(out)


if __name__ == "__main__":
    main()
