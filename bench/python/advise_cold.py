"""Cold-process check of geobatch.advise on advise_user_step.py's step (docs/advise.md):
`advise_cold.py advise N` (the four default candidates at the default probe budget, no
validation; saves advice.npz in the current folder) and `advise_cold.py run N CANDIDATE` (a fresh
process: the candidate's N steps from its first, compiles included), e.g.

    for c in dynamic pack static:pad=pow2 static:pad=multiple64; do
      target/torch-env/bin/python bench/python/advise_cold.py run 300 $c; done
"""
import json
import os
import sys
import time

argv = list(sys.argv); sys.argv = [argv[0]]; mode, n = argv[1], int(argv[2])
cand = argv[3] if len(argv) > 3 else None
ns = {}
src = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "advise_user_step.py")).read().split("t0 = time.time()")[0]
src = src.replace("steps = int(sys.argv[1]); cands = sys.argv[2].split(\",\")", "")
exec(compile(src, "user_step", "exec"), ns)
import geobatch, geobatch.torch, torch
from geobatch.advice import candidate_options
if mode == "advise":
    t0 = time.time()
    advice = geobatch.advise(ns["step"], ns["dataset"], steps=n, batch_size=32, state=[ns["model"], ns["opt"]])
    print(advice); print("advise took", time.time() - t0)
    advice.save("advice.npz")
else:
    opts = dict(candidate_options(cand), batch_size=32)
    loader = geobatch.torch.DataLoader(ns["dataset"], seed=0, **opts)
    total, k, t = 0.0, 0, time.perf_counter_ns()
    while k < n:
        for b in loader:
            ns["step"](b)
            k += 1
            if k == n:
                break
    total = (time.perf_counter_ns() - t) / 1e9
    print(json.dumps({"candidate": cand, "steps": n, "measured_s": total}))
