"""Writes the neighbour-list fixtures: structures made by ASE's own builders, in every kind of cell
ASE accepts (3D skewed and small cells, atoms outside the cell, slabs with and without vacuum,
graphene and MX2 layers with c = 0, nanotubes with only c, wires, a molecule), written by ASE's
extxyz writer, and the edges ASE's `neighbor_list` finds in each, for geobatch's tests to match
edge for edge (plugins/dataset-extxyz/tests/ase_cells.rs).

    target/python-env/bin/python scripts/ase-cells.py     # needs ase (pip install ase==3.29.0)

Writes plugins/dataset-extxyz/tests/fixtures/ase-cells.xyz and ase-cells-edges.txt (one line per
edge: frame, i, j and the image S of j, sorted; `neighbor_list('ijS', atoms, cutoff)`).
"""

import os

import numpy as np
from ase import Atoms
from ase.build import bulk, fcc111, graphene, molecule, mx2, nanotube
from ase.io import read, write
from ase.neighborlist import neighbor_list

OUT = os.path.join(os.path.dirname(__file__), "..", "plugins", "dataset-extxyz", "tests", "fixtures")


def structures():
    rng = np.random.default_rng(46)

    def rattled(atoms, amount=0.05):
        atoms.positions += rng.normal(scale=amount, size=atoms.positions.shape)
        return atoms

    # 3D: a skewed (primitive fcc, 60 degree) copper cell, a cubic one, a tiny silicon cell with a
    # cutoff of several cells, and a random triclinic cell with atoms outside it
    yield "cu-primitive-skewed", rattled(bulk("Cu", "fcc", a=3.61).repeat((3, 3, 3))), 4.9
    yield "cu-cubic", rattled(bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))), 4.9
    yield "si-primitive-far-cutoff", rattled(bulk("Si", "diamond", a=5.43)), 8.0
    cell = np.array([[5.0, 0.0, 0.0], [1.7, 4.6, 0.0], [-1.2, 0.9, 5.5]])
    outside = Atoms("C12", positions=rng.uniform(-4.0, 9.0, size=(12, 3)), cell=cell, pbc=True)
    yield "triclinic-atoms-outside", outside, 5.0
    # 2D: slabs with and without vacuum, layers whose cell has c = 0
    yield "al111-no-vacuum", rattled(fcc111("Al", size=(3, 3, 4), vacuum=None)), 5.0
    yield "al111-vacuum", rattled(fcc111("Al", size=(3, 3, 4), vacuum=8.0)), 5.0
    yield "graphene", rattled(graphene(size=(4, 4, 1), vacuum=None)), 3.0
    yield "mos2", rattled(mx2("MoS2", size=(3, 3, 1), vacuum=None)), 4.0
    # 1D: a nanotube (only c in its cell), a wire periodic along a skewed a
    yield "nanotube-6-0", rattled(nanotube(6, 0, length=3)), 3.0
    wire = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((1, 2, 2))
    wire.cell[0] = [3.61, 0.5, 0.2]
    wire.pbc = [True, False, False]
    yield "cu-wire", rattled(wire), 4.0
    # 0D: a molecule, no cell
    yield "benzene", molecule("C6H6"), 3.0


def main():
    frames = []
    for k, (name, atoms, cutoff) in enumerate(structures()):
        atoms.info.clear()
        atoms.info["name"] = name
        atoms.info["cutoff"] = cutoff
        atoms.info["energy"] = float(k)
        frames.append(atoms)
    path = os.path.join(OUT, "ase-cells.xyz")
    write(path, frames, format="extxyz")
    # the edges of the structures as the file holds them (8 decimals), read back by ASE
    lines = []
    for k, atoms in enumerate(read(path, index=":")):
        cutoff = atoms.info["cutoff"]
        i, j, s = neighbor_list("ijS", atoms, cutoff)
        for row in sorted(zip(i.tolist(), j.tolist(), map(tuple, s.tolist()))):
            lines.append(f"{k} {row[0]} {row[1]} {row[2][0]} {row[2][1]} {row[2][2]}")
        print(f"{atoms.info['name']}: {len(atoms)} atoms, pbc {atoms.pbc.tolist()}, cell lengths "
              f"{np.round(atoms.cell.lengths(), 3).tolist()}, {len(i)} edges at {cutoff} A")
    with open(os.path.join(OUT, "ase-cells-edges.txt"), "w") as f:
        f.write("# frame i j S0 S1 S2: ase.neighborlist.neighbor_list('ijS', atoms, cutoff), "
                "ASE 3.29.0, scripts/ase-cells.py\n")
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
