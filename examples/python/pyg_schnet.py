"""PyG's own SchNet on QM9 under `torch.compile(dynamic=False)`, its forward unchanged, batched two
ways: `geobatch.torch.DataLoader` (padded PyG batches from geobatch's collator; one padded shape
with `pack` or `dynamic`: compiled once) and PyG's `DataLoader` (a new shape nearly every step: a
compile each, until torch's recompile limit sends the rest to eager). Prints compiles and time
per epoch.

    target/torch-env/bin/python examples/python/pyg_schnet.py --loader geobatch --epochs 3
    target/torch-env/bin/python examples/python/pyg_schnet.py --loader pyg --epochs 3
    ... --backend aot_eager        # compiles counted without inductor's C++ build (quick)

Needs torch and torch_geometric (scripts/torch-env.sh). What the model needs from the padded
batch: its edges (SchNet's `interaction_graph`, which by default builds a radius graph whose edge
count changes every step), a readout into `batch.max() + 1` graphs (PyG's own; the padded batch
has the same number every step) and the loss masked to the real graphs (`batch.graph_mask`).
"""

import argparse
import time

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader as PyGLoader
from torch_geometric.nn.models import SchNet

import geobatch
import geobatch.torch


def molecules(train):
    z, pos, no = train.nodes["atomic_numbers"], train.nodes["positions"], train.node_offsets
    y = train.graphs["targets"][:, :1]
    y = (y - y.mean()) / y.std()
    out = []
    for g in range(len(train)):
        n = int(no[g + 1] - no[g])
        r, s = np.divmod(np.arange(n * n), n)
        keep = r != s
        out.append(Data(z=torch.from_numpy(z[no[g]:no[g + 1]].astype(np.int64)),
                        pos=torch.from_numpy(pos[no[g]:no[g + 1]]),
                        edge_index=torch.from_numpy(np.stack([s[keep], r[keep]])),
                        y=torch.from_numpy(y[g:g + 1].astype(np.float32))))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loader", choices=["geobatch", "pyg"], default="geobatch")
    ap.add_argument("--batcher", default="pack", help="geobatch batcher (pack, dynamic, static)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--backend", default="inductor")
    ap.add_argument("--graphs", type=int, default=0, help="the first N training molecules only (0: all)")
    ap.add_argument("--config", default="configs/examples/qm9-dynamic.toml")
    args = ap.parse_args()
    torch.manual_seed(0)
    train = geobatch.load_dataset(args.config).splits["train"]
    data = molecules(train)
    if args.graphs:
        data = data[: args.graphs]
    if args.loader == "geobatch":
        loader = geobatch.torch.DataLoader(data, args.batcher, args.batch_size, seed=0)
        shapes = sorted({tuple(int(x) for x in p) for p in loader.sampler.plan().padded})
        label = f"geobatch.torch.DataLoader({args.batcher!r}, {args.batch_size}), padded shapes {shapes}"
    else:
        loader = PyGLoader(data, batch_size=args.batch_size, shuffle=True)
        label = f"PyG DataLoader(batch_size={args.batch_size}), unpadded"
    edges = geobatch.torch.BatchEdges()     # SchNet's edges: the batch's own
    model = SchNet(hidden_channels=64, num_filters=64, num_interactions=3, num_gaussians=50,
                   cutoff=10.0, interaction_graph=edges)
    compiles = [0]
    from torch._dynamo.backends.registry import lookup_backend

    backend = lookup_backend(args.backend)

    def counting(gm, example_inputs):
        compiles[0] += 1
        return backend(gm, example_inputs)

    compiled = torch.compile(model, dynamic=False, backend=counting)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    print(label)
    for epoch in range(args.epochs):
        t0, losses, n = time.perf_counter(), [], 0
        for b in loader:
            edges.edge_index = b.edge_index
            pred = compiled(b.z, b.pos, b.batch)
            mask = getattr(b, "graph_mask", None)
            if mask is None:
                mask = torch.ones(b.num_graphs, dtype=torch.bool)
            loss = ((pred - b.y) ** 2)[mask].mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss))
            n += 1
        print(f"epoch {epoch}: {n} steps, {time.perf_counter() - t0:.2f} s, mean loss {np.mean(losses):.3f}, "
              f"compiles so far {compiles[0]}", flush=True)

if __name__ == "__main__":
    main()
