"""Neighbour lists side by side: geobatch's cutoff graphs, ASE's `neighbor_list` and vesin, on the
same structures in one process, medians of repeated runs.

    target/python-env/bin/python bench/neighbours/bench_neighbours.py     # pip install ase vesin
    RAYON_NUM_THREADS=1 ... bench_neighbours.py                           # geobatch on one thread

Structures: skewed (primitive fcc, 60 degree) copper cells of 1,000 and 8,000 atoms, rattled, at
a 4.9 Angstrom cutoff (about 42 neighbours an atom), and 20 such 1,000-atom cells (the figure the
issue quotes). geobatch's side is `geobatch._native.graph_edges` (the graph rule every dataset
plugin and `GraphStore.from_geometry` use: edges grouped by receiver, sorted, with vectors) and,
as a user calls it, `GraphStore.from_geometry` (the same list, checked input, a store made of it:
what it adds around the list is the column's difference); ASE's is `neighbor_list("ijSD")`;
vesin's `NeighborList(full_list=True).compute(..., "ijSD")`. Each side's edge count is printed:
they must agree.
"""

import os
import statistics
import time

import numpy as np
from ase.build import bulk
from ase.neighborlist import neighbor_list
from vesin import NeighborList

from geobatch import GraphStore, _native

CUTOFF = 4.9
REPEATS = int(os.environ.get("BENCH_REPEATS", "15"))


def cell(n_side, seed):
    atoms = bulk("Cu", "fcc", a=3.61).repeat((n_side, n_side, n_side))
    rng = np.random.default_rng(seed)
    atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
    return atoms


def geobatch_edges(structures):
    pos = np.concatenate([a.positions for a in structures])
    offsets = np.cumsum([0] + [len(a) for a in structures]).astype(np.int64)
    cells = np.stack([a.cell[:] for a in structures])
    pbc = np.stack([a.pbc for a in structures])
    rule = {"kind": "cutoff", "radius": CUTOFF}
    _, s, _, _ = _native.graph_edges(rule, pos, offsets, cells=cells, pbc=pbc)
    return len(s)


def store_edges(structures):
    store = GraphStore.from_geometry(
        np.concatenate([a.numbers for a in structures]),
        np.concatenate([a.positions for a in structures]),
        [len(a) for a in structures],
        graph={"kind": "cutoff", "radius": CUTOFF},
        cells=np.stack([a.cell[:] for a in structures]),
        pbc=np.stack([a.pbc for a in structures]),
    )
    return len(store.senders)


def ase_edges(structures):
    return sum(len(neighbor_list("ijSD", a, CUTOFF)[0]) for a in structures)


def vesin_edges(structures):
    nl = NeighborList(cutoff=CUTOFF, full_list=True)
    total = 0
    for a in structures:
        i, _, _, _ = nl.compute(a.positions, np.asarray(a.cell), True, quantities="ijSD")
        total += len(i)
    return total


def median_s(fn, structures):
    times, count = [], None
    for _ in range(REPEATS):
        t = time.perf_counter()
        count = fn(structures)
        times.append(time.perf_counter() - t)
    return statistics.median(times), count


def main():
    threads = os.environ.get("RAYON_NUM_THREADS", str(os.cpu_count()))
    print(f"cutoff {CUTOFF} A, medians of {REPEATS} runs, geobatch on {threads} thread(s)")
    cases = [
        ("1,000-atom cell", [cell(10, 0)]),
        ("8,000-atom cell", [cell(20, 0)]),
        ("20 x 1,000-atom cells", [cell(10, s) for s in range(20)]),
    ]
    print("\n| structures | ASE neighbor_list s | vesin s | geobatch s | vs ASE | vs vesin | "
          "from_geometry s | vs vesin | edges |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, structures in cases:
        t_ase, n_ase = median_s(ase_edges, structures)
        t_v, n_v = median_s(vesin_edges, structures)
        t_g, n_g = median_s(geobatch_edges, structures)
        t_s, n_s = median_s(store_edges, structures)
        assert n_ase == n_v == n_g == n_s, (n_ase, n_v, n_g, n_s)
        print(f"| {name} | {t_ase:.4f} | {t_v:.4f} | {t_g:.4f} | {t_ase / t_g:.1f}x | "
              f"{t_v / t_g:.2f}x | {t_s:.4f} | {t_v / t_s:.2f}x | {n_g} |", flush=True)


if __name__ == "__main__":
    main()
