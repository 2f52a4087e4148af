"""The JAX user's step (advise_users.py) timed in one process, one batcher after another: the
median step (ms, after 20) of 200 steps of each, as in a user's loop. `clear` empties JAX's
compile caches between two. docs/advise.md ("In cold processes") quotes it:

    GEOBATCH_DATA=DIR target/python-env/bin/python bench/python/step_speeds.py pack,dynamic
    GEOBATCH_DATA=DIR target/python-env/bin/python bench/python/step_speeds.py dynamic,pack,clear,dynamic
    GEOBATCH_DATA=DIR target/python-env/bin/python bench/python/step_speeds.py dynamic,pack,static:pad=multiple64,clear,dynamic,pack
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import advise_users  # noqa: E402

from geobatch.advice import _default_sync, candidate_options  # noqa: E402


def median_step_ms(u: dict, kind: str, n: int = 200) -> float:
    """The median time (ms) of steps 20 to ``n`` of ``kind``'s batches at batch size 32."""
    batches = advise_users.batches(u, {"batch_size": 32, **candidate_options(kind)})
    state, ms = u["init"], []
    for _ in range(n):
        t = time.perf_counter_ns()
        state = u["step"](state, next(batches))
        _default_sync(state)
        ms.append((time.perf_counter_ns() - t) / 1e6)
    return float(np.median(ms[20:]))


def main():
    import jax

    u = advise_users.user("jax")
    for kind in sys.argv[1].split(","):
        if kind == "clear":
            jax.clear_caches()
            print("caches cleared")
        else:
            print(f"{kind}: {median_step_ms(u, kind):.1f} ms", flush=True)


if __name__ == "__main__":
    main()
