#!/usr/bin/env python3
"""Writes N random periodic cells as extended XYZ shards (gzip), as ASE writes a potential's
data: `Lattice`, `pbc`, `energy`, `stress` on the comment line, `species`, `pos` and `forces` per
atom. What scripts/import-scale.sh imports into a store (issue 82); the values are random, the
sizes and layout those of a real data set (4 to 16 atoms a cell, 20 cubic Angstrom an atom).

    python3 scripts/xyz-shards.py --structures 1000000 --shards 20 --out /tmp/shards
"""

import argparse
import gzip
import os
import random

SPECIES = ["Si", "Ge", "C", "O"]


def frame(rng: random.Random, k: int) -> str:
    n = rng.randint(4, 16)
    a = (20.0 * n) ** (1.0 / 3.0)
    lines = [
        str(n),
        f'Lattice="{a:.6f} 0 0 0 {a:.6f} 0 0 0 {a:.6f}" '
        "Properties=species:S:1:pos:R:3:forces:R:3 "
        f"energy={-4.0 * n + rng.gauss(0, 1):.8f} "
        f'stress="{rng.gauss(0, 0.01):.8f} 0 0 0 {rng.gauss(0, 0.01):.8f} 0 0 0 '
        f'{rng.gauss(0, 0.01):.8f}" config=c{k % 7} pbc="T T T"',
    ]
    for _ in range(n):
        x, y, z = (rng.uniform(0, a) for _ in range(3))
        fx, fy, fz = (rng.gauss(0, 0.5) for _ in range(3))
        lines.append(
            f"{rng.choice(SPECIES)} {x:.8f} {y:.8f} {z:.8f} {fx:.8f} {fy:.8f} {fz:.8f}"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--structures", type=int, required=True)
    p.add_argument("--shards", type=int, default=10)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = random.Random(args.seed)
    per = -(-args.structures // args.shards)
    k = 0
    for s in range(args.shards):
        path = os.path.join(args.out, f"shard-{s:04d}.xyz.gz")
        with gzip.open(path, "wt", compresslevel=1) as f:
            block = []
            for _ in range(min(per, args.structures - k)):
                block.append(frame(rng, k))
                k += 1
                if len(block) == 4096:
                    f.write("".join(block))
                    block = []
            f.write("".join(block))


if __name__ == "__main__":
    main()
