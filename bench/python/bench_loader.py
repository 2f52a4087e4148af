"""Loaders for PyG and jraph users on QM9, one process, one run: microseconds per batch of
geobatch.torch.DataLoader (pack and dynamic; PyG Batch objects out) against PyG's DataLoader,
PyG's DynamicBatchSampler + Batch.from_data_list and jraph's dynamically_batch (with its
padding), geobatch's collation against a memcpy of the bytes it writes (from cache and from a
cold source), and the graphs torch.compile(dynamic=False) compiles for PyG's own SchNet and GIN
over two epochs with each loader. Medians over BENCH_REPEATS epochs (default 3). Run where torch and PyG are (scripts/torch-env.sh):

    target/torch-env/bin/python bench/python/bench_loader.py                 # QM9 as fetched (all 130,831)
    BENCH_GRAPHS=20000 target/torch-env/bin/python bench/python/bench_loader.py   # the first N of the train split

Needs `geobatch data fetch qm9` for full QM9 (the fixture is refused unless BENCH_FIXTURE=1: its
figures are not the field's).
"""

import os
import statistics
import sys
import time

import numpy as np

import geobatch
import geobatch.jraph
import geobatch.torch

REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))


def median_per_batch(fn):
    """Median over REPEATS calls of fn() -> batches, in microseconds per batch."""
    times = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        n = fn()
        times.append((time.perf_counter() - t) / max(n, 1))
    return statistics.median(times) * 1e6


def pyg_data(train):
    import torch
    from torch_geometric.data import Data

    z, pos, no = train.nodes["atomic_numbers"], train.nodes["positions"], train.node_offsets
    y = train.graphs["targets"]
    pattern = {}
    out = []
    for g in range(len(train)):
        a, b = int(no[g]), int(no[g + 1])
        n = b - a
        if n not in pattern:
            r, s = np.divmod(np.arange(n * n), n)
            keep = r != s
            pattern[n] = torch.from_numpy(np.stack([s[keep], r[keep]]))
        out.append(Data(z=torch.from_numpy(z[a:b].astype(np.int64)), pos=torch.from_numpy(pos[a:b]),
                        edge_index=pattern[n], y=torch.from_numpy(y[g:g + 1])))
    return out


def main():
    source = "fixture" if os.environ.get("BENCH_FIXTURE") else None
    table = {"kind": "qm9", "targets": ["U0"]} | ({"source": source} if source else {})
    data = geobatch.load_dataset(**table)
    train = data.splits["train"]
    limit = int(os.environ.get("BENCH_GRAPHS", "0"))
    print(f"QM9 ({data.source.splitlines()[0][:70]}): train split {len(train)} molecules"
          + (f", the first {limit} used" if limit else ""))
    import torch
    from torch_geometric.data import Batch
    from torch_geometric.loader import DataLoader as PyGLoader
    from torch_geometric.loader import DynamicBatchSampler

    torch.set_num_threads(1)
    t = time.perf_counter()
    ds = pyg_data(train)
    if limit:
        ds = ds[:limit]
    print(f"  {len(ds)} PyG Data made in {time.perf_counter() - t:.1f} s")
    store = geobatch.torch._from_data_list(ds)
    rows = []
    for bs in (32, 128):
        loaders = {}
        for kind in ("pack", "dynamic"):
            loader = geobatch.torch.DataLoader(store, kind, bs, seed=0)
            loaders[kind] = loader

            def run(loader=loader):
                n = 0
                for _ in loader:
                    n += 1
                return n

            rows.append((bs, f"geobatch.torch.DataLoader ({kind})", median_per_batch(run)))
        pyg = PyGLoader(ds, batch_size=bs, shuffle=True)

        def run_pyg():
            n = 0
            for _ in pyg:
                n += 1
            return n

        rows.append((bs, "PyG DataLoader", median_per_batch(run_pyg)))
        budget = tuple(int(x) for x in loaders["dynamic"].sampler.plan().padded[0])
        sampler = DynamicBatchSampler(ds, max_num=budget[0] - 1, mode="node", shuffle=True,
                                      skip_too_big=False, num_steps=None)

        def run_dynamic():
            n = 0
            for idx in sampler:
                Batch.from_data_list([ds[i] for i in idx])
                n += 1
            return n

        rows.append((bs, "PyG DynamicBatchSampler + from_data_list", median_per_batch(run_dynamic)))
        try:
            import jax
            import jraph
        except ImportError as e:
            print(f"  jraph skipped: {e}")
        else:
            z, pos, no = store.nodes["z"], store.nodes["pos"], store.node_offsets
            s, r = store.senders, store.receivers
            eo = np.concatenate([[0], np.cumsum(store.n_edge)])
            graphs = [jraph.GraphsTuple(
                nodes={"z": z[no[g]:no[g + 1]], "pos": pos[no[g]:no[g + 1]]}, edges=None,
                senders=s[eo[g]:eo[g + 1]], receivers=r[eo[g]:eo[g + 1]],
                n_node=np.array([no[g + 1] - no[g]]), n_edge=np.array([eo[g + 1] - eo[g]]),
                globals=store.graphs["y"][g:g + 1]) for g in range(len(store))]
            rng = np.random.default_rng(0)

            def run_jraph():
                n = 0
                for _ in jraph.dynamically_batch((graphs[i] for i in rng.permutation(len(graphs))), *budget):
                    n += 1
                return n

            def run_ours():
                n = 0
                for _ in geobatch.jraph.dynamically_batch(graphs, *budget):
                    n += 1
                return n

            with jax.default_device(jax.devices("cpu")[0]):
                rows.append((bs, "jraph dynamically_batch", median_per_batch(run_jraph)))
                rows.append((bs, "geobatch.jraph.dynamically_batch (reads all first)", median_per_batch(run_ours)))
        # collation against a memcpy of the bytes it writes
        planner = geobatch.Planner("pack", bs)
        plan = planner.plan_epoch(store.sizes, seed=0)
        collator = store.collator(plan.padded.max(axis=0))
        batch = collator.collate_plan(plan, 0)
        written = sum(a.nbytes for a in (*batch.nodes.values(), *batch.graphs.values(), batch.senders,
                                         batch.receivers, batch.node_graph, batch.n_node, batch.n_edge,
                                         batch.graph_mask))
        del batch
        src = np.random.default_rng(0).integers(0, 255, size=written, dtype=np.uint8)
        dst = np.empty_like(src)
        reps = 2000

        def memcpy():
            for _ in range(reps):
                np.copyto(dst, src)
            return reps

        def collate():
            for k in range(reps):
                collator.collate_plan(plan, k % len(plan))
            return reps

        floor, ours = median_per_batch(memcpy), median_per_batch(collate)
        rows.append((bs, f"memcpy of the {written} bytes a pack batch writes", floor))
        rows.append((bs, f"geobatch collate_plan (= {ours / floor:.2f}x the memcpy)", ours))
        # the same bytes from a source that is not in cache: a random place in a 2 GiB buffer
        big = np.full(2**31, 7, dtype=np.uint8)  # written: zeros would all map one page
        starts = np.random.default_rng(1).integers(0, len(big) - written, size=reps)

        def memcpy_cold():
            for k in range(reps):
                np.copyto(dst, big[starts[k]:starts[k] + written])
            return reps

        cold = median_per_batch(memcpy_cold)
        del big
        rows.append((bs, f"memcpy of those bytes from a cold source (= collate / {ours / cold:.2f})", cold))
    print("\n| bs | loader | us per batch | vs geobatch pack |\n|---:|---|---:|---:|")
    for bs, name, us in rows:
        ref = next(u for b, n, u in rows if b == bs and "(pack)" in n)
        print(f"| {bs} | {name} | {us:.1f} | {us / ref:.1f}x |")
    compiles(ds[: int(os.environ.get("BENCH_COMPILE_GRAPHS", "4000"))])


def compiles(ds):
    """Graphs torch.compile(dynamic=False) is handed over two epochs of bs 32 (a counting
    backend that runs them eagerly: the count, not inductor's time), PyG's own models with their
    forward unchanged."""
    import torch
    from torch_geometric.loader import DataLoader as PyGLoader
    from torch_geometric.nn import GIN, global_add_pool
    from torch_geometric.nn.models import SchNet

    class GinModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(16, 32)
            self.gin = GIN(32, 32, num_layers=2, out_channels=1)

        def forward(self, z, edge_index, batch):
            return global_add_pool(self.gin(self.embed(z), edge_index), batch)

    print(f"\ngraphs compiled by torch.compile(dynamic=False), 2 epochs of bs 32 over {len(ds)} molecules:")
    print("| model | geobatch.torch.DataLoader (pack) | PyG DataLoader |\n|---|---:|---:|")
    for name in ("SchNet (interaction_graph = the batch's edges)", "GIN + global_add_pool"):
        counts = []
        for loader in (geobatch.torch.DataLoader(ds, "pack", 32, seed=0), PyGLoader(ds, batch_size=32, shuffle=True)):
            torch._dynamo.reset()
            graphs = [0]

            def count(gm, inputs):
                graphs[0] += 1
                return gm.forward

            edges = geobatch.torch.BatchEdges()
            model = (SchNet(hidden_channels=16, num_filters=16, num_interactions=2, num_gaussians=16,
                            cutoff=10.0, interaction_graph=edges) if name.startswith("SchNet") else GinModel())
            compiled = torch.compile(model, backend=count, dynamic=False)
            for _ in range(2):
                for b in loader:
                    edges.edge_index = b.edge_index
                    out = compiled(b.z, b.pos, b.batch) if name.startswith("SchNet") else compiled(b.z, b.edge_index, b.batch)
                    out.sum().backward()
            counts.append(graphs[0])
        print(f"| {name} | {counts[0]} | {counts[1]} |")


if __name__ == "__main__":
    sys.exit(main())
