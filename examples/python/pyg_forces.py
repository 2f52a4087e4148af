"""PyG's own SchNet trained as an interatomic potential on mlearn in your own loop: energies and
conservative forces (`-autograd.grad(E, pos, create_graph=True)`), SchNet's interaction blocks fed
the batch's own periodic edges (`geobatch.torch.BatchEdges`: `|pos[j] + cell_offsets . cell -
pos[i]|`), batched two ways on the same graphs in the same order:

* `--loader geobatch`: `geobatch.torch.DataLoader` over the `load_dataset` store (padded PyG
  batches; the loss masked to the real graphs and atoms);
* `--loader pyg`: PyG's `DataLoader` over OCP/fairchem-style `Data` (`pos`, `forces`, `cell`,
  `cell_offsets`, `targets`: `geobatch.torch.data_list`), with geobatch's `BatchSampler` choosing
  the batches.

The two print the same losses (tested to 1e-5, python/tests/test_examples.py).

    target/torch-env/bin/python examples/python/pyg_forces.py --loader geobatch --steps 20
    target/torch-env/bin/python examples/python/pyg_forces.py --loader pyg --steps 20
    ... --source auto --elements Si --batch-size 16 --epochs 5     # fetched mlearn

Needs torch and torch_geometric. torch.compile is not used: the loss's gradient is a double
backward (through the forces), which AOTAutograd does not support (docs/python.md).
"""

import argparse
import time

import numpy as np
import torch
from torch_geometric.loader import DataLoader as PyGLoader
from torch_geometric.nn.models import SchNet

import geobatch
import geobatch.torch

CUTOFF = 5.0
FORCE_WEIGHT = 10.0


def step_loss(model, edges, batch, shift):
    """Energy per atom and force mean squared errors of one batch, over its real graphs and
    atoms (all of them in an unpadded batch)."""
    pos = batch.pos.requires_grad_(True)
    edges.use(batch)
    energy = model(batch.atomic_numbers.long(), pos, batch.batch).squeeze(-1)
    graphs = getattr(batch, "graph_mask", None)
    nodes = getattr(batch, "node_mask", None)
    if graphs is None:
        graphs = torch.ones(batch.num_graphs, dtype=torch.bool)
        nodes = torch.ones(batch.num_nodes, dtype=torch.bool)
    atoms = torch.bincount(batch.batch, minlength=batch.num_graphs).clamp_min(1)
    energy = energy + shift * atoms
    (grad,) = torch.autograd.grad((energy * graphs).sum(), pos, create_graph=True)
    forces = -grad
    de = torch.where(graphs, (energy - batch.targets[:, 0]) / atoms, 0.0)
    df = torch.where(nodes[:, None], forces - batch.forces, 0.0)
    return (de**2).sum() / graphs.sum() + FORCE_WEIGHT * (df**2).sum() / (3 * nodes.sum())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loader", choices=["geobatch", "pyg"], default="geobatch")
    ap.add_argument("--source", default="fixture", help="mlearn's source: fixture, auto (fetched) or a path")
    ap.add_argument("--elements", nargs="+", default=["Cu", "Ge", "Li", "Mo", "Ni", "Si"])
    ap.add_argument("--batcher", default="pack", help="geobatch batcher (pack, dynamic, atoms, static)")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--steps", type=int, default=0, help="stop after N steps (0: every epoch)")
    args = ap.parse_args()
    data = geobatch.load_dataset(kind="mlearn", source=args.source, elements=args.elements,
                                 targets=["energy", "forces"], graph={"kind": "cutoff", "radius": CUTOFF})
    train = data.splits["train"]
    shift = float((train.graphs["targets"][:, 0] / train.n_node).mean())
    if args.loader == "geobatch":
        loader = geobatch.torch.DataLoader(train, args.batcher, args.batch_size, seed=0)
    else:
        sampler = geobatch.BatchSampler(train.sizes, args.batcher, args.batch_size, seed=0)
        # the store's structures as PyG Data (pos, forces, cell (1, 3, 3), cell_offsets, targets)
        loader = PyGLoader(geobatch.torch.data_list(train), batch_sampler=sampler)
    torch.manual_seed(0)
    edges = geobatch.torch.BatchEdges()  # SchNet's edges: the batch's own, periodic
    model = SchNet(hidden_channels=32, num_filters=32, num_interactions=2, num_gaussians=25,
                   cutoff=CUTOFF, interaction_graph=edges)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    print(f"mlearn {'+'.join(args.elements)} ({data.source}): {len(train)} training structures, "
          f"{args.loader} loader, {args.batcher} bs {args.batch_size}")
    taken, t0 = 0, time.perf_counter()
    for epoch in range(args.epochs):
        for batch in loader:
            loss = step_loss(model, edges, batch, shift)
            opt.zero_grad()
            loss.backward()
            opt.step()
            taken += 1
            print(f"step {taken}: loss {loss.item():.7f}", flush=True)
            if taken == args.steps:
                break
        if taken == args.steps:
            break
    print(f"{taken} steps in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
