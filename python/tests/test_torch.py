"""The padding collate for PyG Data under torch's DataLoader (skips without torch and PyG)."""

import numpy as np
import pytest

import geobatch

torch = pytest.importorskip("torch", reason="torch is not installed (docs/python.md)")
pytest.importorskip("torch_geometric", reason="PyG is not installed (docs/python.md)")

from torch.utils.data import DataLoader  # noqa: E402

from geobatch.torch import PadCollate, PlannedDataset  # noqa: E402

from test_loader import molecules  # noqa: E402


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
        pn += 1  # the second padding node, which padding edges point at
        assert batch.z.shape == (pn,) and batch.pos.shape == (pn, 3)
        assert batch.edge_index.shape == (2, pe) and batch.y.shape == (pg, 1)
        assert batch.batch.shape == (pn,) and int(batch.batch.max()) == pg - 1
        assert int(batch.node_mask.sum()) == rn and int(batch.edge_mask.sum()) == re
        assert int(batch.graph_mask.sum()) == rg and batch.num_graphs == pg
        assert (batch.edge_index[0, re:] == rn).all() and (batch.edge_index[1, re:] == rn + 1).all()
        # pooling over padded graphs keeps the real graphs' sums
        pooled = torch.zeros(pg).index_add_(0, batch.batch, batch.pos[:, 0])
        assert torch.allclose(pooled[:rg].sum(), batch.pos[:rn, 0].sum(), atol=1e-3)
        seen += rg
    assert seen == len(data)


def test_without_a_planned_shape_the_collate_says_what_to_do(qm9):
    with pytest.raises(ValueError, match="PlannedDataset"):
        PadCollate()(molecules(qm9, 3))
    # a shape that cannot hold the graphs is named with theirs, before anything is collated
    with pytest.raises(ValueError, match=r"padded shape \(4, 1000, 8\) cannot hold the batch's \(\d+, \d+, 3\)"):
        PadCollate(shape=(4, 1000, 8))(molecules(qm9, 3))
    with pytest.raises(ValueError, match=r"cannot hold the batch's \(\d+, \d+, 3\)"):
        PadCollate(shape=(4096, 65536, 3))(molecules(qm9, 3))


def _ddp_worker(rank, world, port, sizes, out):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        sampler = geobatch.BatchSampler(sizes, kind="static", pad="multiple64", batch_size=16, seed=4)
        assert (sampler.rank, sampler.world_size) == (rank, world)
        model = DistributedDataParallel(torch.nn.Linear(2, 1))
        steps = []
        for epoch in range(2):
            sampler.set_epoch(epoch)
            for b in sampler:
                x = torch.tensor(sizes[list(b)], dtype=torch.float32)
                model(x).sum().backward()  # an all-reduce per step: a rank short of batches would hang
                steps.append((epoch, b.padded, len(b)))
        out.put((rank, steps))
    finally:
        dist.destroy_process_group()


def test_ddp_ranks_take_as_many_steps_with_one_shape_per_step():
    """Two processes under torch.distributed (gloo): the sampler reads its rank from the group,
    every rank takes the same number of steps (DDP's per-step all-reduce would hang otherwise),
    and both pad a step to the same shape."""
    import socket

    import torch.multiprocessing as mp

    rng = np.random.default_rng(0)
    n = rng.integers(3, 29, size=301)
    sizes = np.stack([n, n * (n - 1)], axis=1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_ddp_worker, args=(r, 2, port, sizes, out)) for r in range(2)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=300) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    a, b = results[0], results[1]
    assert len(a) == len(b) > 0
    assert [x[:2] for x in a] == [x[:2] for x in b]
