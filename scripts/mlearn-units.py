"""What mlearn's stress and force fields are, established from the data (docs/datasets.md).

Reads alignn's mlearn files (the source distribution's .tar.gz, or its unpacked mlearn_data
folder) and fits, for every pair of training structures with the same fractional coordinates in
cells strained by at most 3% from each other, the energy difference against V sigma : eps under
two orders of the six stress values (VASP's xx yy zz xy yz zx, ASE's xx yy zz yz xz xy); and, for
the pairs in one cell whose atoms moved by at most 0.08 A, the energy difference against -F . dx.

    python3 scripts/mlearn-units.py data/downloads/alignn-2026.8.11.tar.gz
"""

import io
import json
import sys
import tarfile
from collections import defaultdict
from pathlib import Path

import numpy as np

ELEMENTS = ["Cu", "Ge", "Li", "Mo", "Ni", "Si"]
ORDERS = {
    "VASP xx yy zz xy yz zx": [(0, 0), (1, 1), (2, 2), (0, 1), (1, 2), (0, 2)],
    "ASE  xx yy zz yz xz xy": [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)],
}


def files(source):
    source = Path(source)
    out = {}
    if source.is_dir():
        for e in ELEMENTS:
            out[e] = tuple(json.loads((source / e / n).read_text()) for n in ("id_prop.json", "config.json"))
        return out
    with tarfile.open(source) as t:
        for e in ELEMENTS:
            get = lambda n: json.load(io.TextIOWrapper(t.extractfile(
                next(m for m in t.getmembers() if m.name.endswith(f"mlearn_data/{e}/{n}")))))
            out[e] = (get("id_prop.json"), get("config.json"))
    return out


def strain_fit(train):
    groups = defaultdict(list)
    for x in train:
        a = x["atoms"]
        groups[(len(a["elements"]), tuple(np.round(np.array(a["coords"]).ravel(), 3)))].append(x)
    rows = []
    for g in groups.values():
        for i, a in enumerate(g):
            for b in g[i + 1:]:
                la, lb = np.array(a["atoms"]["lattice_mat"]), np.array(b["atoms"]["lattice_mat"])
                d = np.linalg.solve(la, lb)
                eps = (d + d.T) / 2 - np.eye(3)
                if np.abs(eps).max() > 0.03 or np.abs(eps).max() < 1e-4:
                    continue
                n = len(a["atoms"]["elements"])
                de = (b["total_energy"] - a["total_energy"]) * n
                v = (abs(np.linalg.det(la)) + abs(np.linalg.det(lb))) / 2
                s = (np.array(a["stresses"]) + np.array(b["stresses"])) / 2
                rows.append((de, v, eps, s))
    return rows


def main():
    for e, (entries, cfg) in files(sys.argv[1]).items():
        train = entries[: cfg["n_train"]]
        rows = strain_fit(train)
        for name, order in ORDERS.items():
            if not rows:
                continue
            x, y = [], []
            for de, v, eps, s in rows:
                m = np.zeros((3, 3))
                for k, (p, q) in enumerate(order):
                    m[p, q] = m[q, p] = s[k]
                x.append(v * np.sum(m * eps))
                y.append(de)
            x, y = np.array(x), np.array(y)
            k = x @ y / (x @ x)
            print(f"{e} {name}: {len(x)} strained pairs, dE = k V sigma:eps with 1/k = {1 / k:.1f}, "
                  f"{np.linalg.norm(y - k * x) / np.linalg.norm(y):.1%} of dE unexplained")
        by_cell = defaultdict(list)
        for x in train:
            by_cell[(len(x["atoms"]["elements"]), tuple(np.round(np.ravel(x["atoms"]["lattice_mat"]), 4)))].append(x)
        xs, ys = [], []
        for g in by_cell.values():
            for i, a in enumerate(g):
                for b in g[i + 1:]:
                    lat = np.array(a["atoms"]["lattice_mat"])
                    df = np.array(b["atoms"]["coords"]) - np.array(a["atoms"]["coords"])
                    dx = (df - np.round(df)) @ lat
                    if np.abs(dx).max() > 0.08 or np.abs(dx).max() < 1e-4:
                        continue
                    f = (np.array(a["forces"]) + np.array(b["forces"])) / 2
                    xs.append(-np.sum(f * dx))
                    ys.append((b["total_energy"] - a["total_energy"]) * len(dx))
        if xs:
            x, y = np.array(xs), np.array(ys)
            print(f"{e} forces: {len(x)} displaced pairs, dE = k (-F . dx) with k = {x @ y / (x @ x):.3f}")


if __name__ == "__main__":
    main()
