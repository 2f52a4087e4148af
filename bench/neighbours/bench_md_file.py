"""A 1,000,000-atom extended XYZ file (1,000 frames of a 1,000-atom copper cell, as an MD run
writes them) turned into cutoff graphs: `geobatch batches` (read, graphs, split, one batch) against
ASE (`ase.io.read` of every frame, then `neighbor_list`) and vesin (on ASE's frames), one run each.

    target/python-env/bin/python bench/neighbours/bench_md_file.py [--frames 1000] [--threads 1,2]

The file is written once to target/bench/md-1000x1000.xyz (about 70 MB; never committed).
"""

import argparse
import os
import subprocess
import time

import numpy as np
from ase.build import bulk
from ase.io import read, write
from ase.neighborlist import neighbor_list
from vesin import NeighborList

CUTOFF = 5.0
BIN = os.environ.get("GEOBATCH", "target/release/geobatch")


def make(path, frames):
    if os.path.exists(path):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    base = bulk("Cu", "fcc", a=3.61).repeat((10, 10, 10))
    rng = np.random.default_rng(0)
    out = []
    for k in range(frames):
        a = base.copy()
        a.positions += rng.normal(scale=0.1, size=a.positions.shape)
        a.info = {"energy": float(k)}
        out.append(a)
    write(path, out, format="extxyz")


def geobatch_s(path, threads):
    config = f"""
[experiment]
name = "md-bench"
[dataset]
kind = "extxyz"
path = "{os.path.abspath(path)}"
targets = ["energy"]
graph = {{ kind = "cutoff", radius = {CUTOFF} }}
[batcher]
kind = "dynamic"
batch_size = 2
[[sinks]]
kind = "console"
"""
    cfg = "target/bench/md-bench.toml"
    with open(cfg, "w") as f:
        f.write(config)
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    t = time.perf_counter()
    subprocess.run([BIN, "batches", cfg, "--steps", "1", "--set", "sinks=[]"], check=True,
                   env=env, capture_output=True)
    return time.perf_counter() - t


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=1000)
    p.add_argument("--threads", default="1,2")
    args = p.parse_args()
    path = f"target/bench/md-{args.frames}x1000.xyz"
    make(path, args.frames)
    print(f"{path}: {args.frames} frames x 1,000 atoms, cutoff {CUTOFF} A")
    for t in args.threads.split(","):
        print(f"  geobatch batches (read + cutoff graphs + one batch), {t} thread(s): "
              f"{geobatch_s(path, int(t)):.2f} s", flush=True)
    t0 = time.perf_counter()
    frames = read(path, index=":")
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    nl = NeighborList(cutoff=CUTOFF, full_list=True)
    n_v = sum(len(nl.compute(a.positions, a.cell[:], True, quantities="ij")[0]) for a in frames)
    t_vesin = time.perf_counter() - t0
    print(f"  ase.io.read: {t_read:.2f} s; vesin on its frames: {t_vesin:.2f} s "
          f"({n_v} edges)", flush=True)
    t0 = time.perf_counter()
    n_a = sum(len(neighbor_list("ij", a, CUTOFF)[0]) for a in frames)
    t_ase = time.perf_counter() - t0
    print(f"  ASE neighbor_list on its frames: {t_ase:.2f} s ({n_a} edges); "
          f"ASE read + neighbor_list {t_read + t_ase:.2f} s", flush=True)


if __name__ == "__main__":
    main()
