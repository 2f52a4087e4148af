"""Time of one epoch's plan through geobatch.BatchSampler on full QM9's sizes (what a training
loop pays at every epoch's start: the sizes' checks, the plan, the budget check), median of
repeats. Run: target/python-env/bin/python bench/python/bench_sampler_epoch.py [--repeats N]."""
import argparse
import statistics
import time

import geobatch

parser = argparse.ArgumentParser()
parser.add_argument("--repeats", type=int, default=30)
parser.add_argument("--data-dir", default="data")
args = parser.parse_args()

ds = geobatch.load_dataset(kind="qm9", data_dir=args.data_dir)
sizes = ds.splits["train"].sizes
for kind, options in [("dynamic", {}), ("static", {"pad": "multiple64"}), ("pack", {})]:
    sampler = geobatch.BatchSampler(sizes, kind, batch_size=32, seed=0, rank=0, world_size=1, **options)
    times = []
    for epoch in range(args.repeats):
        sampler.set_epoch(epoch)
        t = time.perf_counter()
        sampler.plan()
        times.append(time.perf_counter() - t)
    print(f"{kind:8s} {len(sizes)} graphs: plan of an epoch {statistics.median(times) * 1e3:.2f} ms (median of {args.repeats})")
