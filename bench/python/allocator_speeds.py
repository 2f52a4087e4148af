"""One new process's N dynamic steps of the JAX user (advise_users.py) on full QM9, each step
synced, as advise_cold.py runs a candidate: prints the total and the median step time of three
stretches (docs/advise.md, "The allocator").

    GEOBATCH_DATA=DIR target/python-env/bin/python bench/python/allocator_speeds.py N"""
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    import advise_users
    from geobatch.advice import _default_sync

    n = int(sys.argv[1])
    u = advise_users.user("jax")
    state, ms = u["init"], []
    batches = advise_users.batches(u, {"kind": "dynamic", "batch_size": 32})
    for _ in range(n):
        t0 = time.perf_counter_ns()
        state = u["step"](state, next(batches))
        _default_sync(state)
        ms.append((time.perf_counter_ns() - t0) / 1e6)
    ms = np.asarray(ms)
    third = max(n // 3, 1)
    print(json.dumps({"steps": n, "total_s": float(ms.sum() / 1e3), "first_ms": float(ms[0]),
                      "median_ms": [float(np.median(ms[a:a + third])) for a in (1, third, 2 * third)]}))


if __name__ == "__main__":
    main()
