"""The padding collate for PyG Data under torch's DataLoader (skips without torch and PyG)."""

import numpy as np
import pytest

import geobatch

torch = pytest.importorskip("torch", reason="torch is not installed (docs/python.md)")
pytest.importorskip("torch_geometric", reason="PyG is not installed (docs/python.md)")

from torch.utils.data import DataLoader  # noqa: E402
from torch_geometric.data import Data  # noqa: E402

from geobatch.torch import PadCollate, PlannedDataset  # noqa: E402


def molecules(qm9, n=200):
    train = qm9.splits["train"]
    out = []
    for g in range(n):
        a, b = train.node_offsets[g], train.node_offsets[g + 1]
        m = b - a
        r, s = np.divmod(np.arange(m * m), m)
        keep = r != s
        out.append(Data(
            z=torch.from_numpy(train.nodes["atomic_numbers"][a:b].astype(np.int64)),
            pos=torch.from_numpy(train.nodes["positions"][a:b]),
            edge_index=torch.from_numpy(np.stack([s[keep], r[keep]])),
            y=torch.from_numpy(train.graphs["targets"][g : g + 1]),
        ))
    return out


@pytest.mark.parametrize("kind,options", [("pack", {}), ("static", {"pad": "multiple64"})])
@pytest.mark.parametrize("workers", [0, 2])
def test_batches_are_padded_to_the_plan(qm9, kind, options, workers):
    data = molecules(qm9)
    sizes = np.array([[d.num_nodes, d.num_edges] for d in data])
    sampler = geobatch.BatchSampler(sizes, kind=kind, batch_size=16, seed=1, **options)
    loader = DataLoader(PlannedDataset(data), batch_sampler=sampler, collate_fn=PadCollate(), num_workers=workers)
    plan = sampler.plan()
    seen = 0
    for b, batch in enumerate(loader):
        pn, pe, pg = (int(x) for x in plan.padded[b])
        rn, re, rg = (int(x) for x in plan.real[b])
        assert batch.z.shape == (pn,) and batch.pos.shape == (pn, 3)
        assert batch.edge_index.shape == (2, pe) and batch.y.shape == (pg, 1)
        assert batch.batch.shape == (pn,) and int(batch.batch.max()) == rg
        assert int(batch.node_mask.sum()) == rn and int(batch.edge_mask.sum()) == re
        assert int(batch.graph_mask.sum()) == rg and batch.num_graphs == pg
        assert (batch.edge_index[:, re:] == rn).all()
        # pooling over padded graphs keeps the real graphs' sums
        pooled = torch.zeros(pg).index_add_(0, batch.batch, batch.pos[:, 0])
        assert torch.allclose(pooled[:rg].sum(), batch.pos[:rn, 0].sum(), atol=1e-3)
        seen += rg
    assert seen == len(data)


def test_without_a_planned_shape_the_collate_says_what_to_do(qm9):
    with pytest.raises(ValueError, match="PlannedDataset"):
        PadCollate()(molecules(qm9, 3))
