"""A potential's batches in a PyG loop on full mlearn (issue 66), one process, one run:

* microseconds per batch of ``geobatch.torch.DataLoader`` over ``load_dataset(kind="mlearn",
  targets=["energy", "forces", "stress"])`` against PyG's ``DataLoader`` over the same structures
  as OCP/fairchem-style ``Data`` with the same attributes (``pos``, ``atomic_numbers``,
  ``forces``, ``edge_index``, ``cell_offsets``, ``cell``, ``stress``, ``energy``), bs 16 and 32;
* what the potential's arrays (forces, cell, stress and its mask, cell_offsets, with the padding
  edges' offsets and cells written) add to a batch's collation, against a memcpy of their bytes
  (from cache and from a cold source).

Medians over BENCH_REPEATS epochs (default 5); the load average is printed at the start and end.

    geobatch data fetch mlearn
    target/torch-env/bin/python bench/python/bench_forces_loader.py
"""

import os
import sys
import time

import numpy as np

import geobatch
import geobatch.torch
from geobatch.store import GraphStore, pad_periodic

os.environ.setdefault("BENCH_REPEATS", "5")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_loader import count, load, memcpy_us  # noqa: E402  (the loader benchmark's helpers)
from bench_loader import median_per_batch as median  # noqa: E402

POTENTIAL = {"nodes": ("forces",), "edges": ("cell_offsets",), "graphs": ("cell", "stress", "stress_mask")}


def without_potential(store):
    """The store without the potential's arrays (what a batch cost before them)."""
    return GraphStore(
        store.n_node,
        nodes={k: v for k, v in store.nodes.items() if k not in POTENTIAL["nodes"]},
        edges={k: v for k, v in store.edges.items() if k not in POTENTIAL["edges"]},
        graphs={k: v for k, v in store.graphs.items() if k not in POTENTIAL["graphs"]},
        edge_index=np.stack([store.senders, store.receivers]), n_edge=store.n_edge, copy=False,
    )


def collation(store, bs, rows):
    """The loader's collation (PyG layout, with the padding rows of cell and cell_offsets
    written) with and without the potential's arrays; the difference against a memcpy of the
    bytes those arrays take in a batch."""
    plan = geobatch.Planner("pack", bs).plan_epoch(store.sizes, seed=0)
    reps = 2000
    timed = {}
    for name, s in (("with", store), ("without", without_potential(store))):
        loader = geobatch.torch.DataLoader(s, "pack", bs, seed=0)
        native, bound = loader._bind(plan)
        periodic = loader._periodic

        def run():
            for k in range(reps):
                real, _, arrays = native.collate_bound(bound, k % len(plan))
                if periodic is not None:
                    pad_periodic(arrays[periodic[0]], arrays[periodic[1]], real)
            return reps

        timed[name] = median(run)
        if name == "with":
            _, padded, arrays = native.collate_bound(bound, 0)
            names = loader._keys
            extra = sum(a.nbytes for k, a in zip(names, arrays)
                        if k in (*POTENTIAL["nodes"], *POTENTIAL["edges"], *POTENTIAL["graphs"]))
            # n_node and n_edge are written too, not handed out (PyG's batches have ptr)
            everything = sum(a.nbytes for a in arrays if a is not None) + 2 * 8 * padded[2]
            del arrays
    w, c = memcpy(extra, reps)
    _, floor = memcpy(everything, reps)
    added = timed["with"] - timed["without"]
    rows.append((bs, f"collation with the potential's arrays ({extra} bytes a batch; {everything} "
                     f"in all: {timed['with'] / floor:.2f}x a cold memcpy of them, {floor:.1f} us)",
                 timed["with"]))
    rows.append((bs, "collation without them", timed["without"]))
    rows.append((bs, f"added by them: {added / c:.2f}x a cold memcpy of their bytes ({c:.1f} us), "
                     f"{added / w:.2f}x a warm one ({w:.1f} us)", added))


def memcpy(nbytes, reps):
    """Microseconds of a memcpy of ``nbytes``: from cache (warm) and from a cold source."""
    return memcpy_us(nbytes, False, reps), memcpy_us(nbytes, True, reps, 2**30)


def main():
    from torch_geometric.loader import DataLoader as PyGLoader

    print(load(), flush=True)
    data = geobatch.load_dataset(kind="mlearn", targets=["energy", "forces", "stress"],
                                 graph={"kind": "cutoff", "radius": 5.0})
    store = data.splits["train"]
    print(f"{data!r}\ntrain: {store!r}", flush=True)
    ds = geobatch.torch.data_list(store)
    rows = []
    for bs in (16, 32):
        ours = geobatch.torch.DataLoader(store, "pack", bs, seed=0)
        a = median(lambda: count(ours))
        pyg = PyGLoader(ds, batch_size=bs, shuffle=True)
        b = median(lambda: count(pyg))
        rows.append((bs, "geobatch.torch.DataLoader (pack)", a))
        rows.append((bs, f"PyG DataLoader, same attributes: {b / a:.1f}x geobatch's", b))
        collation(store, bs, rows)
    print("| bs | what | us per batch |\n|---:|---|---:|")
    for bs, what, us in rows:
        print(f"| {bs} | {what} | {us:.1f} |")
    print(load(), file=sys.stderr)


if __name__ == "__main__":
    main()
