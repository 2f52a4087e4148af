"""The batching study against the study's reference batching, on the same QM9 stream.

geobatch's side is its batching study (`geobatch batches`, plan + collate per batch, its own
median); the reference side is the reference implementation's batching in jraph and NumPy, per
spec §1.2-1.4 and §1.8: `jraph.dynamically_batch` over the stream with its budget (dynamic), or
lists of batch_size - 1 graphs joined by `jraph.batch_np` and padded by `jraph.pad_with_graphs`
to multiples of 64, the arriving graph thrown away (static-64). Its graphs are what the reference
holds: atom classes per node, the distance per edge of fully connected molecules, the target per
graph. The stream is geobatch's with `quirks = "reference"` (the study's budget and consumption),
so both sides make the same batches. One process, one machine; medians per batch.

    target/python-env/bin/python bench/python/bench_reference.py      # full QM9 if fetched
    BENCH_STEPS=2000 BENCH_SIZES=32 ... bench_reference.py             # batches per run, batch sizes
"""

import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np

import geobatch

BIN = os.environ.get("GEOBATCH", "target/release/geobatch")
STEPS = int(os.environ.get("BENCH_STEPS", "5000"))
SIZES = [int(b) for b in os.environ.get("BENCH_SIZES", "32,128").split(",")]
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
CONFIGS = {"dynamic": "configs/examples/qm9-dynamic.toml", "static-64": "configs/examples/qm9-static64.toml"}


def geobatch_study(kind: str, bs: int) -> float:
    """The batching study's median time per batch (us), as `geobatch batches` prints it."""
    out = subprocess.run(
        [BIN, "batches", CONFIGS[kind], "--steps", str(STEPS), "--set", "sinks=[]",
         "--set", f"batcher.batch_size={bs}", "--set", 'experiment.quirks="reference"'],
        check=True, capture_output=True, text=True).stdout
    return float(re.search(r"time per batch\s+median ([0-9.]+) us", out).group(1))


def reference_graphs(train):
    """The reference's graphs: atom classes, fully connected edges with their distance, target."""
    import jraph

    species, pos, no = train.nodes["species"], train.nodes["positions"], train.node_offsets
    y = train.graphs["targets"]
    patterns = {}
    graphs = []
    for g in range(len(train)):
        a, b = int(no[g]), int(no[g + 1])
        n = b - a
        if n not in patterns:
            r, s = np.divmod(np.arange(n * n, dtype=np.int32), n)
            keep = r != s
            patterns[n] = (s[keep], r[keep])
        s, r = patterns[n]
        p = pos[a:b]
        d = np.linalg.norm(p[r] - p[s], axis=1).astype(np.float32)[:, None]
        graphs.append(jraph.GraphsTuple(
            nodes=species[a:b].astype(np.int32), edges=d, senders=s, receivers=r,
            n_node=np.array([n], np.int32), n_edge=np.array([len(s)], np.int32), globals=y[g:g + 1],
            ))
    return graphs


def ceil64(x: int) -> int:
    return 64 * -(-x // 64)


def reference_static64(graphs, stream, bs):
    """The reference's static_batch (spec §1.3-1.4): yields padded batches of bs - 1 graphs."""
    import jraph

    held = []
    for g in stream:
        if len(held) == bs - 1:
            batch = jraph.batch_np(held)
            nodes, edges = int(np.sum(batch.n_node)), int(np.sum(batch.n_edge))
            yield jraph.pad_with_graphs(batch, ceil64(nodes + 1), ceil64(edges), bs)
            held = []  # the arriving graph is thrown away
            continue
        held.append(graphs[g])


def reference_dynamic(graphs, stream, budget):
    """The reference's dynamic batching (spec §1.2): jraph's, padded to the one budget shape."""
    import jraph

    return jraph.dynamically_batch((graphs[g] for g in stream), *budget)


def median_us(fn, batches: int) -> float:
    times = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        n = sum(1 for _ in fn())
        times.append((time.perf_counter() - t) / n * 1e6)
        assert n >= batches - 1, (n, batches)
    return statistics.median(times)


def main():
    import jax

    data = geobatch.load_dataset(CONFIGS["dynamic"])
    train = data.splits["train"]
    print(f"QM9 ({data.source.splitlines()[0][:70]}): train split {len(train)} molecules; "
          f"{STEPS} batches per run, medians of {REPEATS} runs on the reference side")
    t = time.perf_counter()
    graphs = reference_graphs(train)
    print(f"  the reference's {len(graphs)} GraphsTuples made in {time.perf_counter() - t:.1f} s")
    rows = []
    for bs in SIZES:
        for kind in ("dynamic", "static-64"):
            if kind == "dynamic":
                planner = geobatch.Planner("dynamic", bs, quirks="reference")
            else:
                planner = geobatch.Planner("static", bs, quirks="reference", pad="multiple64")
            plan = planner.plan_steps(train.sizes, steps=STEPS, seed=42)
            budget = tuple(int(x) for x in plan.padded[0])
            stream = []
            for k in range(len(plan)):
                stream.extend(int(g) for g in plan[k])
                if kind == "static-64":
                    stream.append(0)  # the graph the reference throws away
            if kind == "static-64":
                stream.append(0)  # the last list is yielded when one more graph arrives
                run = lambda: reference_static64(graphs, stream, bs)  # noqa: E731
            else:
                run = lambda: reference_dynamic(graphs, stream, budget)  # noqa: E731
            with jax.default_device(jax.devices("cpu")[0]):
                ref = median_us(run, len(plan))
            ours = geobatch_study(kind, bs)
            rows.append((bs, kind, ref, ours))
            print(f"  bs {bs} {kind}: reference {ref:.1f} us/batch, geobatch batches {ours:.2f} us "
                  f"({ref / ours:.0f}x)", flush=True)
    print("\n| bs | batcher | reference (jraph + NumPy) us/batch | geobatch batching study us/batch | ratio |")
    print("|---:|---|---:|---:|---:|")
    for bs, kind, ref, ours in rows:
        print(f"| {bs} | {kind} | {ref:.1f} | {ours:.2f} | {ref / ours:.0f}x |")


if __name__ == "__main__":
    sys.exit(main())
