"""A user's own step (advise_users.py) asked of geobatch.advise on full QM9 at the API's default
probe budget, every candidate validated in the same process (docs/advise.md):

    target/torch-env/bin/python bench/python/advise_user_step.py torch 300 static:pad=multiple64,static:pad=pow2
    target/python-env/bin/python bench/python/advise_user_step.py jax 2000 dynamic,pack

bench/python/advise_cold.py runs each candidate in a cold process of its own instead."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import advise_users  # noqa: E402

import geobatch  # noqa: E402

framework, steps, cands = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
u = advise_users.user(framework)
t0 = time.time()
advice = geobatch.advise(u.pop("step"), u.pop("data"), steps=steps, batch_size=32, candidates=cands,
                         validate="all", **u)
print(advice)
print("advise took", time.time() - t0)
print(json.dumps([{k: r.get(k) for k in ("label", "predicted_s", "measured_s", "error_pct",
                                        "new_shapes_extrapolated", "probe_spread_pct", "shapes")}
                  for r in advice.ranked]))
