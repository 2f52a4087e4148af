"""geobatch.advise on a user's own step (advise_users.py; docs/advise.md), every candidate
validated in a new process of its own by the API itself (`validate="all"`,
`new_process=advise_users.make_FRAMEWORK`):

    advise_cold.py FRAMEWORK N OUT    the four default candidates at the API's default probe
                                      budget, N steps: OUT/advice.npz and the advice's text
    advise_cold.py report OUT         predicted (in a new process) against measured, a table

bench/python/advise_cold.sh FRAMEWORK N OUT runs both."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def report(out):
    import geobatch

    advice = geobatch.Advice.load(os.path.join(out, "advice.npz"))
    rows = ["| batcher | shapes | steady ms (probe steps) | predicted s | in a new process s | measured s | "
            "its first step s | error |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    measured = {}
    for r in advice.ranked:
        ms = advice.measured.get(r["label"])
        if ms is None:
            continue
        measured[r["label"]] = r["measured_s"]
        rows.append(f"| {r['label']} | {r['shapes']} | {r['steady_ms']:.1f} ({r['steady_steps']}) | "
                    f"{r['predicted_s']:.1f} | {r['predicted_same_steps_s']:.1f} | {r['measured_s']:.1f} | "
                    f"{ms[0] / 1e3:.1f} | {r['error_pct']:+.1f}% |")
    print("\n".join(rows))
    fastest = min(measured, key=measured.get)
    behind = 100 * (measured[advice.best] / measured[fastest] - 1)
    print(f"\nstart-up {advice.startup_s:.1f} s ({advice.new_process_s:+.1f} s on a new process's total); "
          f"recommended {advice.best} ({behind:.1f}% behind the fastest); measured fastest {fastest}")
    if advice.tie:
        print("tie:", advice.tie)


def main():
    if sys.argv[1] == "report":
        return report(sys.argv[2])
    framework, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    import advise_users
    import geobatch

    t0 = time.time()
    u = advise_users.user(framework)
    make = {"torch": advise_users.make_torch, "jax": advise_users.make_jax}[framework]
    step, data = u.pop("step"), u.pop("data")
    advice = geobatch.advise(step, data, steps=n, batch_size=32, validate="all", new_process=make, **u)
    print(advice)
    print("advise took", time.time() - t0)
    advice.save(os.path.join(out, "advice.npz"))


if __name__ == "__main__":
    main()
