"""geobatch's Python doors on full QM9, one process, one run (issue 57's items 1, 5 and 8, and
the compiles of item 4):

* loaders (item 8): microseconds per batch of geobatch.torch.DataLoader (pack and dynamic; PyG
  Batch objects out) against PyG's DataLoader, PyG's DynamicBatchSampler + Batch.from_data_list;
  geobatch's collation against a memcpy of the bytes it writes (from cache and from a cold
  source);
* keeping batches (item 1): ``list(loader)`` and a list of ``collate_plan`` batches against a
  loop that drops each batch, per batch, and the buffers (and process memory) left once the
  kept batches are dropped;
* jraph (item 5): ``jraph.dynamically_batch`` against ``geobatch.jraph.dynamically_batch`` over
  the whole training split as single-graph GraphsTuples with NumPy's default int64 indices, the
  first batch included (each epoch from a fresh iterator), and the time to the first batch;
* compiles (item 4): graphs torch.compile(dynamic=False) is handed over one epoch for stock PyG
  layers with their defaults (GCN, GAT, GIN, GraphSAGE, CGConv, PNA, SchNet through the batch's
  edges), with geobatch's loader and with PyG's.

Medians over BENCH_REPEATS epochs (default 3). Run where torch and PyG are (scripts/torch-env.sh):

    target/torch-env/bin/python bench/python/bench_loader.py                 # QM9 as fetched (all 130,831)
    BENCH_GRAPHS=20000 target/torch-env/bin/python bench/python/bench_loader.py   # the first N of the train split

Needs `geobatch data fetch qm9` for full QM9 (the fixture is refused unless BENCH_FIXTURE=1: its
figures are not the field's). The load average is printed at the start and the end.
"""

import gc
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


def rss_mb() -> float:
    """The process's resident memory (MB)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


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


def count(loader):
    n = 0
    for _ in loader:
        n += 1
    return n


def loaders(ds, store, rows):
    """Item 8: the loaders per batch, at bs 32 and 128."""
    from torch_geometric.data import Batch
    from torch_geometric.loader import DataLoader as PyGLoader
    from torch_geometric.loader import DynamicBatchSampler

    for bs in (32, 128):
        ours = {}
        for kind in ("pack", "dynamic"):
            loader = geobatch.torch.DataLoader(store, kind, bs, seed=0)
            ours[kind] = loader
            rows.append((bs, f"geobatch.torch.DataLoader ({kind})", median_per_batch(lambda: count(loader))))
        pyg = PyGLoader(ds, batch_size=bs, shuffle=True)
        rows.append((bs, "PyG DataLoader", median_per_batch(lambda: count(pyg))))
        budget = tuple(int(x) for x in ours["dynamic"].sampler.plan().padded[0])
        sampler = DynamicBatchSampler(ds, max_num=budget[0] - 1, mode="node", shuffle=True,
                                      skip_too_big=False, num_steps=None)

        def run_dynamic():
            n = 0
            for idx in sampler:
                Batch.from_data_list([ds[i] for i in idx])
                n += 1
            return n

        rows.append((bs, "PyG DynamicBatchSampler + from_data_list", median_per_batch(run_dynamic)))
        collation(store, bs, rows)


def memcpy_us(nbytes, cold, reps, source_bytes=2**31):
    """Microseconds of a memcpy of ``nbytes``: from cache, or (``cold``) from random places of
    a ``source_bytes`` buffer (median of REPEATS rounds of ``reps`` copies)."""
    src = np.random.default_rng(0).integers(0, 255, size=nbytes, dtype=np.uint8)
    dst = np.empty_like(src)
    if not cold:
        def run():
            for _ in range(reps):
                np.copyto(dst, src)
            return reps
        return median_per_batch(run)
    big = np.full(source_bytes, 7, dtype=np.uint8)  # written: zeros would all map one page
    starts = np.random.default_rng(1).integers(0, len(big) - nbytes, size=reps)

    def run_cold():
        for k in range(reps):
            np.copyto(dst, big[starts[k]:starts[k] + nbytes])
        return reps
    return median_per_batch(run_cold)


def collation(store, bs, rows):
    """Item 8: collation (the loader's, PyG layout; and collate_plan's, jraph layout) against a
    memcpy of the bytes it writes, from cache and from a cold source."""
    plan = geobatch.Planner("pack", bs).plan_epoch(store.sizes, seed=0)
    loader = geobatch.torch.DataLoader(store, "pack", bs, seed=0)
    native, bound = loader._bind(plan)
    reps = 2000
    _, padded, arrays = native.collate_bound(bound, 0)
    # n_node and n_edge are written too, not handed out (PyG's batches have ptr)
    written_pyg = sum(a.nbytes for a in arrays if a is not None) + 2 * 8 * padded[2]
    collator = store.collator(plan.padded.max(axis=0))
    batch = collator.collate_plan(plan, 0)
    written = sum(a.nbytes for a in (*batch.nodes.values(), *batch.graphs.values(), batch.senders,
                                     batch.receivers, batch.node_graph, batch.n_node, batch.n_edge,
                                     batch.graph_mask))
    del batch, arrays

    def memcpy_of(nbytes, cold):
        return memcpy_us(nbytes, cold, reps)

    def collate_jraph():
        for k in range(reps):
            collator.collate_plan(plan, k % len(plan))
        return reps

    def collate_pyg():
        for k in range(reps):
            native.collate_bound(bound, k % len(plan))
        return reps

    for name, fn, nbytes in (("collate_plan (jraph layout, int32)", collate_jraph, written),
                             ("the loader's collation (PyG layout, int64)", collate_pyg, written_pyg)):
        ours = median_per_batch(fn)
        warm, cold = memcpy_of(nbytes, False), memcpy_of(nbytes, True)
        rows.append((bs, f"{name}: {nbytes} bytes, {ours / cold:.2f}x a cold memcpy ({cold:.1f} us), "
                         f"{ours / warm:.1f}x a warm one ({warm:.1f} us)", ours))


def keeping(store, rows):
    """Item 1: keeping every batch of an epoch against dropping each, and the buffers (bytes)
    the loader holds while they are kept and after they are dropped. (The process's resident
    memory says little here: the allocator hands freed memory out again before asking the
    system, so it is printed once, beside.)"""
    for bs in (32,):
        loader = geobatch.torch.DataLoader(store, "pack", bs, seed=0)
        drop = median_per_batch(lambda: count(loader))
        times = []
        for _ in range(REPEATS):
            gc.collect()
            rss = rss_mb()
            t = time.perf_counter()
            kept = list(loader)
            times.append((time.perf_counter() - t) / len(kept))
            n, held = len(kept), loader.buffers
            rss = rss_mb() - rss
            del kept
            gc.collect()
            left = loader.buffers
        keep = statistics.median(times) * 1e6
        mb = loader._native.buffer_bytes / 2**20
        rows.append((bs, "geobatch.torch.DataLoader (pack), each batch dropped", drop))
        rows.append((bs, f"list(loader): {n} batches kept ({keep / drop:.2f}x); {held} buffers held "
                         f"({held * mb:.0f} MB; resident memory +{rss:.0f} MB), {left} after del "
                         f"({left * mb:.1f} MB)", keep))
        plan = geobatch.Planner("pack", bs).plan_epoch(store.sizes, seed=0)
        collator = store.collator(plan.padded.max(axis=0))

        def dropped():
            for b in range(len(plan)):
                collator.collate_plan(plan, b)
            return len(plan)

        def kept_all():
            kept = [collator.collate_plan(plan, b) for b in range(len(plan))]
            return len(kept)

        d, k = median_per_batch(dropped), median_per_batch(kept_all)
        rows.append((bs, "Collator.collate_plan, each batch dropped", d))
        rows.append((bs, f"Collator.collate_plan, every batch kept ({k / d:.2f}x); {collator.buffers} buffers "
                         "held after del", k))


def jraph_tuples(store):
    """The training split as a jraph user holds it: one GraphsTuple per molecule, NumPy's
    default int64 indices."""
    import jraph

    z, pos, no = store.nodes["z"], store.nodes["pos"], store.node_offsets
    s, r = store.senders.astype(np.int64), store.receivers.astype(np.int64)
    eo = np.concatenate([[0], np.cumsum(store.n_edge)])
    y = store.graphs["y"]
    return [jraph.GraphsTuple(
        nodes={"z": z[no[g]:no[g + 1]], "pos": pos[no[g]:no[g + 1]]}, edges=None,
        senders=s[eo[g]:eo[g + 1]], receivers=r[eo[g]:eo[g + 1]],
        n_node=np.array([no[g + 1] - no[g]]), n_edge=np.array([eo[g + 1] - eo[g]]),
        globals=y[g:g + 1]) for g in range(len(store))]


def jraph_epochs(store, rows):
    """Item 5: whole epochs of jraph's dynamically_batch and geobatch's drop-in, each from a
    fresh iterator over the same shuffled tuples (first batch included)."""
    try:
        import jax
        import jraph
    except ImportError as e:
        print(f"  jraph skipped: {e}")
        return
    t = time.perf_counter()
    graphs = jraph_tuples(store)
    print(f"  {len(graphs)} GraphsTuples (int64 indices) made in {time.perf_counter() - t:.1f} s")
    for bs in (32, 128):
        loader = geobatch.torch.DataLoader(store, "dynamic", bs, seed=0)
        budget = tuple(int(x) for x in loader.sampler.plan().padded[0])
        order = np.random.default_rng(0).permutation(len(graphs))
        stream = [graphs[i] for i in order]
        result = {}
        with jax.default_device(jax.devices("cpu")[0]):
            for name, fn in (("jraph.dynamically_batch", jraph.dynamically_batch),
                             ("geobatch.jraph.dynamically_batch", geobatch.jraph.dynamically_batch)):
                epochs, firsts = [], []
                for _ in range(REPEATS):
                    t = time.perf_counter()
                    it = fn(iter(stream), *budget)
                    next(it)
                    firsts.append(time.perf_counter() - t)
                    n = 1 + count(it)
                    epochs.append(time.perf_counter() - t)
                result[name] = (statistics.median(epochs), statistics.median(firsts), n)
        (tj, fj, nj), (tg, fg, ng) = result["jraph.dynamically_batch"], result["geobatch.jraph.dynamically_batch"]
        rows.append((bs, f"jraph.dynamically_batch: epoch {tj:.2f} s, {nj} batches, first batch {fj * 1e3:.2f} ms",
                     tj / nj * 1e6))
        rows.append((bs, f"geobatch.jraph.dynamically_batch: epoch {tg:.2f} s ({tj / tg:.2f}x jraph's speed), "
                         f"{ng} batches, first batch {fg * 1e3:.2f} ms", tg / ng * 1e6))


def main():
    source = "fixture" if os.environ.get("BENCH_FIXTURE") else None
    table = {"kind": "qm9", "targets": ["U0"]} | ({"source": source} if source else {})
    data = geobatch.load_dataset(**table)
    train = data.splits["train"]
    limit = int(os.environ.get("BENCH_GRAPHS", "0"))
    print(f"QM9 ({data.source.splitlines()[0][:70]}): train split {len(train)} molecules"
          + (f", the first {limit} used" if limit else "") + f"; {load()}")
    import torch

    torch.set_num_threads(1)
    t = time.perf_counter()
    ds = pyg_data(train)
    if limit:
        ds = ds[:limit]
    print(f"  {len(ds)} PyG Data made in {time.perf_counter() - t:.1f} s")
    store, _ = geobatch._pyg_store._from_data_list(ds)  # as geobatch.torch.DataLoader reads it
    rows = []
    loaders(ds, store, rows)
    keeping(store, rows)
    jraph_epochs(store, rows)
    print(f"\n{load()}")
    print("\n| bs | what | us per batch | vs geobatch.torch.DataLoader (pack) |\n|---:|---|---:|---:|")
    for bs, name, us in rows:
        ref = next(u for b, n, u in rows if b == bs and n == "geobatch.torch.DataLoader (pack)")
        print(f"| {bs} | {name} | {us:.1f} | {us / ref:.1f}x |")
    if os.environ.get("BENCH_COMPILE", "1") != "0":
        compiles(ds[: int(os.environ.get("BENCH_COMPILE_GRAPHS", "2000"))])


def compiles(ds):
    """Graphs torch.compile(dynamic=False) is handed over one epoch of bs 32 (a counting backend
    that runs them eagerly: the count, not inductor's time), stock PyG layers with their
    defaults (tests/test_compile.py's models)."""
    import logging

    import torch
    from torch_geometric.loader import DataLoader as PyGLoader

    torch._logging.set_logs(dynamo=logging.ERROR)  # the recompile-limit warnings are the point
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python", "tests"))
    from test_compile import StockGNN, _degree_histogram
    from torch_geometric.nn.models import SchNet

    print(f"\ngraphs compiled by torch.compile(dynamic=False), one epoch of bs 32 over {len(ds)} molecules "
          "(the graphs of the first step, then in all):")
    print("| model | geobatch.torch.DataLoader (pack) | PyG DataLoader |\n|---|---:|---:|")
    deg = _degree_histogram(ds)
    for name in ("gcn", "gat", "gin", "sage", "cgconv", "pna", "schnet"):
        counts = []
        for loader in (geobatch.torch.DataLoader(ds, "pack", 32, seed=0), PyGLoader(ds, batch_size=32, shuffle=True)):
            torch._dynamo.reset()
            graphs = [0]

            def backend(gm, inputs):
                graphs[0] += 1
                return gm.forward

            torch.manual_seed(0)
            edges = geobatch.torch.BatchEdges()
            model = (SchNet(hidden_channels=16, num_filters=16, num_interactions=2, num_gaussians=16,
                            cutoff=10.0, interaction_graph=edges) if name == "schnet" else StockGNN(name, deg))
            compiled = torch.compile(model, backend=backend, dynamic=False)
            first = None
            for b in loader:
                edges.edge_index = b.edge_index
                out = (compiled(b.z, b.pos, b.batch) if name == "schnet"
                       else compiled(b.z, b.pos, b.edge_index, b.batch))
                out.sum().backward()
                first = graphs[0] if first is None else first
            counts.append(f"{first} then {graphs[0]}")
        print(f"| {name} | {counts[0]} | {counts[1]} |")


if __name__ == "__main__":
    sys.exit(main())
