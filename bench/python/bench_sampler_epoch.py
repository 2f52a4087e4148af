"""Time of one epoch's plan through geobatch.BatchSampler on full QM9's sizes (what a training
loop pays at every epoch's start: the plan and the budget check; the sizes were checked once,
when the sampler was made), beside Planner.plan_epoch given the array itself (checked at every
call), median of repeats. Run: target/python-env/bin/python bench/python/bench_sampler_epoch.py [--repeats N]."""
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
    times, unchecked = [], []
    for epoch in range(args.repeats):
        sampler.set_epoch(epoch)
        t = time.perf_counter()
        sampler.plan()
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        sampler.planner.plan_epoch(sizes, seed=0, epoch=epoch)
        unchecked.append(time.perf_counter() - t)
    ms = lambda ts: statistics.median(ts) * 1e3
    print(
        f"{kind:8s} {len(sizes)} graphs: plan of an epoch {ms(times):.2f} ms through the sampler, "
        f"{ms(unchecked):.2f} ms from the array (median of {args.repeats})"
    )
