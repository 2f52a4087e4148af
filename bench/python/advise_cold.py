"""Cold-process check of geobatch.advise on a user's own step (advise_users.py; docs/advise.md).

    advise_cold.py FRAMEWORK advise N OUT      the four default candidates at the API's default
                                               probe budget, no validation: OUT/advice.npz
    advise_cold.py FRAMEWORK run N CANDIDATE OUT   a fresh process with empty compile caches: the
                                               candidate's N steps from its first, compiles
                                               included, each step synced as advise times it: a
                                               line of OUT/cold.jsonl
    advise_cold.py report OUT                  predicted against measured, a Markdown table

bench/python/advise_cold.sh FRAMEWORK N OUT runs all of it."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def report(out):
    import geobatch

    advice = geobatch.Advice.load(os.path.join(out, "advice.npz"))
    cold = {}
    with open(os.path.join(out, "cold.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            cold[r["label"]] = r
    from geobatch import evidence

    extra = evidence.new_process_s(advice.startup_s, advice.ranked) or 0.0
    rows = ["| batcher | shapes | predicted s | in a new process s | measured cold s | its first step s | error | error, new process |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in advice.ranked:
        c = cold.get(r["label"])
        if c is None:
            continue
        pred, meas = r["predicted_s"], c["measured_s"]
        rows.append(f"| {r['label']} | {r['shapes']} | {pred:.1f} | {pred + extra:.1f} | {meas:.1f} | "
                    f"{c['first_step_s']:.1f} | {100 * (pred / meas - 1):+.1f}% | {100 * ((pred + extra) / meas - 1):+.1f}% |")
    print("\n".join(rows))
    print(f"\nstart-up {advice.startup_s:.1f} s ({extra:+.1f} s on a new process's total); recommended {advice.best}; measured fastest "
          f"{min(cold.values(), key=lambda v: v['measured_s'])['label']}")
    if advice.tie:
        print("tie:", advice.tie)


def main():
    if sys.argv[1] == "report":
        return report(sys.argv[2])
    framework, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # a cold process on a fresh machine: inductor's on-disk caches (FX graphs, kernels) empty,
    # as advise empties them for every probe (they outlive a process: a run after another
    # compiles from them much faster: 10.7 s against 20-30 s for the first step here)
    import shutil
    import tempfile

    cache = tempfile.mkdtemp(prefix="advise-cold-inductor-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
    try:
        run(framework, mode, n)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def run(framework, mode, n):
    import advise_users
    import geobatch
    from geobatch.advice import _default_sync, candidate_options

    u = advise_users.user(framework)
    if mode == "advise":
        out = sys.argv[4]
        t0 = time.time()
        step, data = u.pop("step"), u.pop("data")
        advice = geobatch.advise(step, data, steps=n, batch_size=32, **u)
        print(advice)
        print("advise took", time.time() - t0)
        advice.save(os.path.join(out, "advice.npz"))
        return
    cand, out = sys.argv[4], sys.argv[5]
    opts = dict(candidate_options(cand))
    opts.setdefault("batch_size", 32)
    state = u.get("init")
    ms = []
    batches = advise_users.batches(u, opts)
    t = time.perf_counter_ns()
    for _ in range(n):
        t0 = time.perf_counter_ns()
        b = next(batches)
        if state is not None:
            state = u["step"](state, b)
            _default_sync(state)
        else:
            _default_sync(u["step"](b))
        ms.append((time.perf_counter_ns() - t0) / 1e6)
    total = (time.perf_counter_ns() - t) / 1e9
    kind = opts.pop("kind")
    label = geobatch.Planner(kind, opts.pop("batch_size"), **opts).label
    line = {"candidate": cand, "label": label, "steps": n, "measured_s": total, "first_step_s": ms[0] / 1e3,
            "rest_s": sum(ms[1:]) / 1e3}
    print(json.dumps(line))
    with open(os.path.join(out, "cold.jsonl"), "a") as f:
        f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
