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
