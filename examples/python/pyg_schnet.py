"""PyG's SchNet on QM9 under `torch.compile(dynamic=False)`, batched two ways: geobatch's
`BatchSampler` with its padding collate (one padded shape with `pack`: one compile), and PyG's
`DynamicBatchSampler` + `Batch.from_data_list` (a new shape nearly every step: a compile each,
until torch's recompile limit sends the rest to eager). Prints compiles and time per epoch.

    /tmp/torch/bin/python examples/python/pyg_schnet.py --loader geobatch --epochs 3
    /tmp/torch/bin/python examples/python/pyg_schnet.py --loader pyg --epochs 3
    ... --backend aot_eager        # compiles counted without inductor's C++ build (quick)

Needs torch and torch_geometric (docs/python.md); the model is PyG's `SchNet` modules (embedding,
Gaussian smearing, interaction blocks) with the batch's own edges and a readout sized by the
padded graph count, so that every shape is static.
"""

import argparse
import time

import numpy as np
import torch
from torch.utils.data import DataLoader
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DynamicBatchSampler
from torch_geometric.nn.models import SchNet

import geobatch
from geobatch.torch import PadCollate, PlannedDataset


class PaddedSchNet(torch.nn.Module):
    """PyG's SchNet on given edges (fully connected molecules), sum readout into num_graphs."""

    def __init__(self):
        super().__init__()
        self.net = SchNet(hidden_channels=64, num_filters=64, num_interactions=3, num_gaussians=50, cutoff=10.0)

    def forward(self, z, pos, edge_index, batch, num_graphs: int):
        net = self.net
        h = net.embedding(z)
        row, col = edge_index
        w = (pos[row] - pos[col]).pow(2).sum(-1).add(1e-12).sqrt()
        attr = net.distance_expansion(w)
        for block in net.interactions:
            h = h + block(h, edge_index, w, attr)
        h = net.lin2(net.act(net.lin1(h)))
        return torch.zeros(num_graphs, 1, dtype=h.dtype).index_add(0, batch, h)


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
    ap.add_argument("--config", default="configs/examples/qm9-dynamic.toml")
    args = ap.parse_args()
    torch.manual_seed(0)
    train = geobatch.load_dataset(args.config).splits["train"]
    data = molecules(train)
    sizes = train.sizes
    if args.loader == "geobatch":
        sampler = geobatch.BatchSampler(sizes, kind=args.batcher, batch_size=args.batch_size, seed=0)
        loader = DataLoader(PlannedDataset(data), batch_sampler=sampler, collate_fn=PadCollate())
        # PyG's node budget: the same real nodes per batch as geobatch's padded budget holds
        budget = sampler.plan().padded.max(axis=0)
        label = f"geobatch {sampler.planner.label}, padded to {tuple(int(x) for x in budget)}"
    else:
        plan = geobatch.Planner("dynamic", args.batch_size).plan_epoch(sizes, seed=0)
        max_nodes = int(plan.padded[0, 0]) - 1
        loader = DataLoader(data, batch_sampler=DynamicBatchSampler(data, max_num=max_nodes, mode="node", shuffle=True),
                            collate_fn=Batch.from_data_list)
        label = f"PyG DynamicBatchSampler(max_num={max_nodes}, mode='node'), unpadded"
    model = PaddedSchNet()
    compiles = [0]
    from torch._dynamo.backends.registry import lookup_backend

    backend = lookup_backend(args.backend)

    def counting(gm, example_inputs):
        compiles[0] += 1
        return backend(gm, example_inputs)

    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(z, pos, edge_index, batch, num_graphs, y, mask):
        pred = model(z, pos, edge_index, batch, num_graphs)
        err = (pred - y) ** 2 * mask[:, None]
        loss = err.sum() / mask.sum()
        loss.backward()
        return loss

    step = torch.compile(step, dynamic=False, backend=counting)
    print(label)
    for epoch in range(args.epochs):
        t0, losses, n = time.perf_counter(), [], 0
        for b in loader:
            mask = getattr(b, "graph_mask", None)
            if mask is None:
                mask = torch.ones(b.num_graphs, dtype=torch.bool)
            opt.zero_grad()
            loss = step(b.z, b.pos, b.edge_index, b.batch, int(b.num_graphs), b.y, mask.float())
            opt.step()
            losses.append(float(loss))
            n += 1
        print(f"epoch {epoch}: {n} steps, {time.perf_counter() - t0:.2f} s, mean loss {np.mean(losses):.3f}, "
              f"compiles so far {compiles[0]}", flush=True)


if __name__ == "__main__":
    main()
