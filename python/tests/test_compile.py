"""Stock PyG models under torch.compile(dynamic=False) with geobatch's loader and pack: one
compile over two epochs, their forward unchanged; PyG's own loader recompiles per new shape.
(Skips without torch and PyG; the compiles are counted with a backend that runs the captured
graphs eagerly, so no C++ toolchain is needed.)"""

import numpy as np
import pytest

import geobatch

torch = pytest.importorskip("torch", reason="torch is not installed (scripts/torch-env.sh)")
pytest.importorskip("torch_geometric", reason="PyG is not installed (scripts/torch-env.sh)")

from torch_geometric.nn import GIN, global_add_pool  # noqa: E402
from torch_geometric.nn.models import SchNet  # noqa: E402

from geobatch.torch import BatchEdges, DataLoader  # noqa: E402

from test_loader import molecules  # noqa: E402


class Counter:
    """A torch.compile backend that counts the graphs it is handed and runs them as they are."""

    def __init__(self):
        self.graphs = 0

    def __call__(self, gm, inputs):
        self.graphs += 1
        return gm.forward


class GINRegressor(torch.nn.Module):
    """A stock edge_index model: embedding, PyG's GIN, global_add_pool."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(16, 32)
        self.gin = GIN(32, 32, num_layers=2, out_channels=1)

    def forward(self, z, edge_index, batch):
        return global_add_pool(self.gin(self.embed(z), edge_index), batch)


def _train(step, loader, epochs=2):
    """Compiles after the first step, and in all."""
    first = None
    for e in range(epochs):
        loader.set_epoch(e) if hasattr(loader, "set_epoch") else None
        for batch in loader:
            step(batch)
            if first is None:
                first = step.counter.graphs
    return first, step.counter.graphs


def _schnet_step(counter):
    torch.manual_seed(0)
    edges = BatchEdges()
    model = SchNet(hidden_channels=16, num_filters=16, num_interactions=2, num_gaussians=16,
                   cutoff=10.0, interaction_graph=edges)
    compiled = torch.compile(model, backend=counter, dynamic=False)
    opt = torch.optim.Adam(model.parameters(), 1e-3)

    def step(batch):
        edges.edge_index = batch.edge_index
        out = compiled(batch.z, batch.pos, batch.batch)
        mask = batch.graph_mask if hasattr(batch, "graph_mask") else torch.ones(len(out), dtype=torch.bool)
        loss = ((out[: len(mask)].squeeze(-1) - batch.y[:, 0]) ** 2)[mask].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    step.counter = counter
    return step


def _gin_step(counter):
    torch.manual_seed(0)
    model = GINRegressor()
    compiled = torch.compile(model, backend=counter, dynamic=False)

    def step(batch):
        compiled(batch.z, batch.edge_index, batch.batch).sum().backward()

    step.counter = counter
    return step


@pytest.mark.parametrize("make", [_schnet_step, _gin_step], ids=["schnet", "gin"])
def test_stock_models_compile_once_with_pack(qm9, make):
    torch._dynamo.reset()
    loader = DataLoader(molecules(qm9, 400), "pack", 16, seed=0)
    assert len({tuple(int(x) for x in p) for p in loader.sampler.plan().padded}) == 1
    first, total = _train(make(Counter()), loader)
    assert first >= 1 and total == first, f"{total - first} recompiles after the first step"


def test_pygs_loader_recompiles_where_geobatch_does_not(qm9):
    from torch_geometric.loader import DataLoader as PyGLoader

    torch._dynamo.reset()
    data = molecules(qm9, 400)
    first, total = _train(_gin_step(Counter()), PyGLoader(data, batch_size=16, shuffle=True), epochs=1)
    assert total > first, "PyG's batches change shape: torch.compile(dynamic=False) recompiles"


def _distances(pos, edge_index):
    return (pos[edge_index[0]] - pos[edge_index[1]]).norm(dim=-1, keepdim=True)


class StockGNN(torch.nn.Module):
    """A stock PyG layer or model with its defaults (GCN and GAT add self-loops after removing
    the graph's own with a data-dependent mask), over atom embeddings, pooled per graph."""

    def __init__(self, name, deg=None):
        super().__init__()
        from torch_geometric import nn as pyg

        self.name = name
        self.embed = torch.nn.Embedding(16, 16)
        if name == "cgconv":
            self.conv = pyg.CGConv(16, dim=1)
        elif name == "pna":
            self.conv = pyg.models.PNA(16, 16, num_layers=2, out_channels=16, deg=deg,
                                       aggregators=["mean", "min", "max", "std"],
                                       scalers=["identity", "amplification", "attenuation"])
        else:
            model = {"gcn": pyg.models.GCN, "gat": pyg.models.GAT, "gin": pyg.models.GIN,
                     "sage": pyg.models.GraphSAGE}[name]
            self.conv = model(16, 16, num_layers=2, out_channels=16)
        self.out = torch.nn.Linear(16, 1)

    def forward(self, z, pos, edge_index, batch):
        x = self.embed(z)
        if self.name == "cgconv":
            x = self.conv(x, edge_index, _distances(pos, edge_index))
        else:
            x = self.conv(x, edge_index)
        return self.out(global_add_pool(x, batch))


def _degree_histogram(data):
    from torch_geometric.utils import degree

    deg = torch.zeros(64, dtype=torch.long)
    for d in data:
        deg += torch.bincount(degree(d.edge_index[1], d.num_nodes, dtype=torch.long), minlength=64)[:64]
    return deg


@pytest.mark.parametrize("name", ["gcn", "gat", "gin", "sage", "cgconv", "pna", "schnet"])
def test_stock_layers_compile_once_over_padded_batches(qm9, name):
    """GCNConv, GATConv, GINConv, SAGEConv, CGConv, PNA and SchNet (through the batch's edges)
    with their defaults: one compile at the first step, none after, over two epochs. Padding
    edges run between two distinct padding nodes, so the self-loop masks of GCN and GAT keep
    every edge and their edge count stays the plan's."""
    torch._dynamo.reset()
    data = molecules(qm9, 240)
    loader = DataLoader(data, "pack", 16, seed=0)
    counter = Counter()
    torch.manual_seed(0)
    if name == "schnet":
        edges = BatchEdges()
        model = SchNet(hidden_channels=16, num_filters=16, num_interactions=2, num_gaussians=16,
                       cutoff=10.0, interaction_graph=edges)
        compiled = torch.compile(model, backend=counter, dynamic=False)

        def step(b):
            edges.edge_index = b.edge_index
            return compiled(b.z, b.pos, b.batch)
    else:
        model = StockGNN(name, _degree_histogram(data) if name == "pna" else None)
        compiled = torch.compile(model, backend=counter, dynamic=False)

        def step(b):
            return compiled(b.z, b.pos, b.edge_index, b.batch)

    first = None
    steps = 0
    for epoch in range(2):
        loader.set_epoch(epoch)
        for b in loader:
            assert not (b.edge_index[0] == b.edge_index[1]).any()  # no self-loop, padding included
            out = step(b)
            (out.squeeze(-1)[b.graph_mask] ** 2).mean().backward()
            steps += 1
            if first is None:
                first = counter.graphs
    assert steps > 20 and first >= 1
    assert counter.graphs == first, f"{name}: {counter.graphs - first} recompiles after the first step"


def test_padding_self_loops_make_gcn_recompile(qm9):
    """Why padding edges join two distinct padding nodes: with the padding edges as self-loops
    (from and to one padding node, jraph's layout), GCN's self-loop mask drops a different
    number of edges every step and torch.compile(dynamic=False) compiles again."""
    torch._dynamo.reset()
    loader = DataLoader(molecules(qm9, 240), "pack", 16, seed=0)
    counter = Counter()
    torch.manual_seed(0)
    compiled = torch.compile(StockGNN("gcn"), backend=counter, dynamic=False)
    first = None
    for b in loader:
        ei = b.edge_index.clone()
        ei[1, ~b.edge_mask] = ei[0, ~b.edge_mask]  # padding edges as self-loops
        compiled(b.z, b.pos, ei, b.batch).sum().backward()
        first = counter.graphs if first is None else first
    assert counter.graphs > first
