"""Plan + collate per batch from Python on QM9: geobatch against jraph's dynamically_batch (with
its padding) and PyG's DynamicBatchSampler + Batch.from_data_list, and a memcpy of the bytes
geobatch writes (the floor). One process, one machine; medians over whole epochs.

    target/python-env/bin/python bench/python/bench_collate.py            # jraph; PyG if installed
    GEOBATCH_QM9_CONFIG=configs/examples/qm9-dynamic.toml ...              # the config to read
"""

import os
import statistics
import sys
import time

import numpy as np

import geobatch

REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))


def per_batch(fn, batches):
    """Median over REPEATS runs of fn() (one epoch), divided by its batches, in microseconds."""
    times = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) / batches * 1e6


def main():
    config = os.environ.get("GEOBATCH_QM9_CONFIG", "configs/examples/qm9-dynamic.toml")
    data = geobatch.load_dataset(config)
    train = data.splits["train"]
    sizes = train.sizes
    print(f"QM9 train split: {len(train)} molecules ({data.source.splitlines()[0][:80]})")
    for bs in (32, 128):
        planner = geobatch.Planner("dynamic", bs)
        plan = planner.plan_epoch(sizes, seed=0)
        budget = tuple(int(x) for x in plan.padded[0])
        b = len(plan)
        collator = train.collator(budget)
        epoch = [0]

        def ours():
            p = planner.plan_epoch(sizes, seed=0, epoch=epoch[0])
            epoch[0] += 1
            for k in range(len(p)):
                collator.collate_plan(p, k)

        def plan_only():
            planner.plan_epoch(sizes, seed=0)

        t_ours = per_batch(ours, b)
        t_plan = per_batch(plan_only, b)
        batch = collator.collate_plan(plan, 0)
        written = sum(a.nbytes for a in (*batch.nodes.values(), *batch.graphs.values(), batch.senders,
                                         batch.receivers, batch.node_graph, batch.n_node, batch.n_edge,
                                         batch.graph_mask))
        src = np.random.default_rng(0).integers(0, 255, size=written, dtype=np.uint8)
        dst = np.empty_like(src)
        reps = 2000
        t = time.perf_counter()
        for _ in range(reps):
            np.copyto(dst, src)
        floor = (time.perf_counter() - t) / reps * 1e6
        t = time.perf_counter()
        for k in range(reps):
            collator.collate_plan(plan, k % b)
        collate_only = (time.perf_counter() - t) / reps * 1e6
        print(f"\nbs {bs}: {b} batches per epoch, padded {budget}, {written} bytes written per batch")
        print(f"  geobatch plan + collate     {t_ours:9.1f} us/batch (plan alone {t_plan:.2f})")
        print(f"  geobatch collate alone      {collate_only:9.1f} us/batch")
        print(f"  memcpy of the same bytes    {floor:9.1f} us  (collate / memcpy = {collate_only / floor:.2f})")
        _jraph(train, budget, b, t_ours)
        _pyg(train, budget, t_ours)


def _molecules(train):
    """Each molecule of the split, fully connected: (atomic numbers, positions, senders,
    receivers, targets row)."""
    z, pos, no = train.nodes["atomic_numbers"], train.nodes["positions"], train.node_offsets
    for g in range(len(train)):
        n = int(train.sizes[g, 0])
        r, s = np.divmod(np.arange(n * n), n)
        keep = r != s
        yield z[no[g]:no[g + 1]], pos[no[g]:no[g + 1]], s[keep], r[keep], train.graphs["targets"][g:g + 1]


def _jraph(train, budget, b, t_ours):
    """jraph's dynamically_batch over the same molecules as GraphsTuples, per batch."""
    try:
        import jax
        import jraph
    except ImportError as e:
        print(f"  jraph: skipped ({e})")
    else:
        graphs = [jraph.GraphsTuple(nodes={"z": z, "pos": pos}, edges=None, senders=s.astype(np.int32),
                                    receivers=r.astype(np.int32), n_node=np.array([len(z)]),
                                    n_edge=np.array([len(s)]), globals=y)
                  for z, pos, s, r, y in _molecules(train)]
        rng = np.random.default_rng(0)

        def theirs():
            order = rng.permutation(len(graphs))
            for _ in jraph.dynamically_batch((graphs[i] for i in order), *budget):
                pass

        with jax.default_device(jax.devices("cpu")[0]):
            t_jraph = per_batch(theirs, b)
        print(f"  jraph dynamically_batch     {t_jraph:9.1f} us/batch  (geobatch {t_jraph / t_ours:.0f}x faster)")


def _pyg(train, budget, t_ours):
    """PyG's DynamicBatchSampler and Batch.from_data_list over the same molecules, per batch."""
    try:
        import torch
        from torch_geometric.data import Batch, Data
        from torch_geometric.loader import DynamicBatchSampler
    except ImportError as e:
        print(f"  PyG: skipped ({e})")
    else:
        ds = [Data(z=torch.from_numpy(z.astype(np.int64)), pos=torch.from_numpy(pos),
                   edge_index=torch.from_numpy(np.stack([s, r])), y=torch.from_numpy(y))
              for z, pos, s, r, y in _molecules(train)]
        sampler = DynamicBatchSampler(ds, max_num=budget[0] - 1, mode="node", shuffle=True)
        pyg_batches = sum(1 for _ in sampler)

        def pyg():
            for idx in sampler:
                Batch.from_data_list([ds[i] for i in idx])

        t_pyg = per_batch(pyg, pyg_batches)
        print(f"  PyG DynamicBatchSampler + Batch.from_data_list {t_pyg:9.1f} us/batch  "
              f"(geobatch {t_pyg / t_ours:.0f}x faster; unpadded, node budget only)")


if __name__ == "__main__":
    sys.exit(main())
