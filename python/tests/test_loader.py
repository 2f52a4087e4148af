"""geobatch.torch.DataLoader: padded PyG batches from the native collator, PyG's Batch API on
them, resume, prefetch, and stock PyG models compiling once (skips without torch and PyG)."""

import numpy as np
import pytest

import geobatch

torch = pytest.importorskip("torch", reason="torch is not installed (scripts/torch-env.sh)")
pytest.importorskip("torch_geometric", reason="PyG is not installed (scripts/torch-env.sh)")

from torch_geometric.data import Batch, Data, InMemoryDataset  # noqa: E402

from geobatch.torch import DataLoader  # noqa: E402


def molecules(qm9, n=300):
    """QM9 molecules as PyG Data (fully connected, as geobatch's QM9)."""
    train = qm9.splits["train"]
    out = []
    for g in range(n):
        a, b = train.node_offsets[g], train.node_offsets[g + 1]
        m = b - a
        r, s = np.divmod(np.arange(m * m), m)
        keep = r != s
        out.append(Data(
            z=torch.from_numpy(train.nodes["atomic_numbers"][a:b].astype(np.int64)),
            pos=torch.from_numpy(train.nodes["positions"][a:b].copy()),
            edge_index=torch.from_numpy(np.stack([s[keep], r[keep]])),
            y=torch.from_numpy(train.graphs["targets"][g : g + 1].copy()),
        ))
    return out


class Molecules(InMemoryDataset):
    """An InMemoryDataset built from Data objects, as PyG's QM9 is stored."""

    def __init__(self, data_list):
        super().__init__(None)
        self.data, self.slices = self.collate(data_list)


def _equal_data(a, b):
    assert a.num_nodes == b.num_nodes
    for k in ("z", "pos", "edge_index", "y"):
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("source", ["list", "in_memory", "store"])
@pytest.mark.parametrize("kind", ["pack", "static"])
def test_batches_hold_every_graph_once_padded_with_pygs_api(qm9, source, kind):
    data = molecules(qm9)
    if source == "list":
        dataset = data
    elif source == "in_memory":
        dataset = Molecules(data)
    else:
        dataset = geobatch.GraphStore.from_pyg(data)
    options = {"pad": "multiple64"} if kind == "static" else {}
    loader = DataLoader(dataset, kind, 16, seed=3, **options)
    plan = loader.sampler.plan()
    seen = []
    for b, batch in enumerate(loader):
        pn, pe, pg = (int(x) for x in plan.padded[b])
        rn, re, rg = (int(x) for x in plan.real[b])
        assert isinstance(batch, Batch)
        pn += 1  # the second padding node, which padding edges point at
        assert batch.z.shape == (pn,) and batch.pos.shape == (pn, 3)
        assert batch.edge_index.shape == (2, pe) and batch.edge_index.dtype == torch.int64
        assert batch.y.shape[0] == pg and batch.num_graphs == pg
        # padding belongs to the last graph: stock readouts give one row per padded graph
        assert int(batch.batch.max()) + 1 == pg
        assert int(batch.node_mask.sum()) == rn and int(batch.edge_mask.sum()) == re
        assert int(batch.graph_mask.sum()) == rg == batch.num_real_graphs == len(batch)
        assert (batch.edge_index[0, re:] == rn).all() and (batch.edge_index[1, re:] == rn + 1).all()
        assert (batch.z[rn:] == 0).all()
        assert torch.equal(batch.ptr[: rg + 1], torch.from_numpy(
            np.concatenate([[0], np.cumsum(plan_sizes(dataset, loader, b)[:, 0])])))
        # the real graphs come back as they went in
        if source != "store":
            graphs = batch.to_data_list()
            assert len(graphs) == rg
            for i, g in zip(plan[b], graphs):
                _equal_data(g, data[int(i)])
            _equal_data(batch[-1], data[int(plan[b][-1])])
            # copies keep what the batch knows (PyG's .to(), .clone())
            _equal_data(batch.clone()[0], data[int(plan[b][0])])
            _equal_data(batch.to("cpu", non_blocking=True)[1], data[int(plan[b][1])])
            with pytest.raises(IndexError):
                batch[rg]
        seen += [int(i) for i in plan[b]]
    assert sorted(seen) == list(range(len(data)))


def plan_sizes(dataset, loader, b):
    plan = loader.sampler.plan()
    return loader.store.sizes[plan[b]]


def test_a_subset_of_an_in_memory_dataset_batches_its_own_graphs(qm9):
    data = molecules(qm9, 120)
    full = Molecules(data)
    sub = full[torch.arange(10, 110, 3)]
    loader = DataLoader(sub, "pack", 8, seed=0)
    got = [g for batch in loader for g in batch.to_data_list()]
    assert len(got) == len(sub)
    want = sorted((g.pos.sum().item(), g.num_nodes) for g in (sub[i] for i in range(len(sub))))
    assert sorted((g.pos.sum().item(), g.num_nodes) for g in got) == want


def test_prefetch_gives_the_same_batches_and_resume_continues(qm9):
    data = molecules(qm9)
    inline = [b.to_data_list() for b in DataLoader(data, "pack", 16, seed=5)]
    loader = DataLoader(data, "pack", 16, seed=5, prefetch=3)
    ahead = [b.to_data_list() for b in loader]
    assert len(inline) == len(ahead)
    for x, y in zip(inline, ahead):
        for a, b in zip(x, y):
            _equal_data(a, b)
    # state_dict counts what the loop took, not what the thread made ahead
    loader = DataLoader(data, "pack", 16, seed=5, prefetch=3)
    it = iter(loader)
    for _ in range(4):
        next(it)
    state = loader.state_dict()
    rest = [b.to_data_list() for b in it]
    fresh = DataLoader(data, "pack", 16, seed=5)
    fresh.load_state_dict(state)
    assert len(fresh) == len(rest)
    for x, y in zip(rest, fresh):
        for a, b in zip(x, y.to_data_list()):
            _equal_data(a, b)


def test_kept_batches_are_not_overwritten(qm9):
    data = molecules(qm9)
    loader = DataLoader(data, "pack", 16, seed=2)
    plan = loader.sampler.plan()  # the next pass's plan
    kept = list(loader)
    for b, batch in enumerate(kept):
        for i, g in zip(plan[b], batch.to_data_list()):
            _equal_data(g, data[int(i)])


@pytest.mark.parametrize("workers", [0, 2, 4])
@pytest.mark.parametrize("persistent", [False, True])
def test_sampler_resume_with_dataloader_workers(qm9, workers, persistent):
    """torch's DataLoader with workers drains the sampler ahead: state_dict(consumed=k) still
    resumes after exactly k batches, for every k (and at the epoch's end)."""
    from torch.utils.data import DataLoader as TorchLoader

    sizes = qm9.splits["train"].sizes[:400]
    if persistent and workers == 0:
        pytest.skip("persistent workers need workers")
    s = geobatch.BatchSampler(sizes, kind="pack", batch_size=16, seed=7)
    loader = TorchLoader(range(len(sizes)), batch_sampler=s, num_workers=workers,
                         persistent_workers=persistent, collate_fn=list)
    epoch0 = [list(b) for b in loader]
    epoch1 = [list(b) for b in loader]
    n = len(epoch0)
    s.set_epoch(0)
    it = iter(loader)
    for k in range(n + 1):
        state = s.state_dict(consumed=k)
        fresh = geobatch.BatchSampler(sizes, kind="pack", batch_size=16, seed=7)
        fresh.load_state_dict(state)
        assert [list(b) for b in fresh] == (epoch0[k:] if k < n else epoch1), k
        if k < n:
            assert list(next(it)) == epoch0[k]


@pytest.mark.parametrize("prefetch", [0, 3])
def test_a_loop_that_drops_its_batches_reuses_the_buffers(qm9, prefetch):
    """Memory stays bounded: a loop that keeps no batch reuses a few buffer sets (the batch in
    hand, the one being made, the ones made ahead) instead of one per batch."""
    loader = DataLoader(molecules(qm9), "pack", 8, seed=1, prefetch=prefetch)
    batches = 0
    for _ in range(2):
        for batch in loader:
            batches += 1
    sets = loader.buffers
    # ahead: the queue, the one the thread makes, and the loop's previous one until it is dropped
    assert batches > 40 and sets <= (prefetch + 3 if prefetch else 2), (batches, sets)


def test_graphs_with_other_attributes_are_refused_by_number(qm9):
    data = molecules(qm9, 6)
    odd = Data(z=data[5].z, pos=data[5].pos, edge_index=data[5].edge_index)  # no y
    with pytest.raises(ValueError, match=r"Data 5 has the tensor attributes .*every graph"):
        DataLoader(data[:5] + [odd], "pack", 4)


def test_kept_batches_cost_a_buffer_each_and_give_the_memory_back(qm9):
    """list(loader), a cached validation set: every kept batch keeps its data, and dropping
    them gives their buffers back (at most the few kept for later batches remain)."""
    data = molecules(qm9)
    loader = DataLoader(data, "pack", 16, seed=2, prefetch=2)
    plan = loader.sampler.plan()
    kept = list(loader)
    assert loader.buffers >= len(kept) == len(plan)
    for b, batch in enumerate(kept):
        for i, g in zip(plan[b], batch.to_data_list()):
            _equal_data(g, data[int(i)])
    del kept, batch, g  # a graph of to_data_list() is a view of its batch: it keeps its buffer
    assert loader.buffers <= loader.prefetch + 4


@pytest.mark.parametrize("prefetch", [4, 8])
def test_a_pass_broken_out_of_and_iterated_again_never_fails(qm9, prefetch):
    """Break after the first batch and iterate again at once, 200 times: the prefetch thread of
    the broken pass is stopped before the next starts (no 'Already borrowed'), and each pass
    continues at the first batch the loop did not take, as without prefetch."""
    data = molecules(qm9, 200)
    loader = DataLoader(data, "pack", 8, seed=1, prefetch=prefetch)
    inline = DataLoader(data, "pack", 8, seed=1)
    for _ in range(200):
        for batch in loader:
            break
        for want in inline:
            break
        assert torch.equal(batch.z, want.z) and torch.equal(batch.edge_index, want.edge_index)
        assert loader.state_dict() == inline.state_dict()
    # an iterator still alive when the next pass starts: stopped, not raced
    it = iter(loader)
    next(it)
    again = iter(loader)
    next(again)
    assert list(it) == []


def test_set_epoch_in_the_middle_of_a_pass_takes_effect_at_the_next(qm9):
    data = molecules(qm9, 200)
    for prefetch in (0, 3):
        loader = DataLoader(data, "pack", 8, seed=4, prefetch=prefetch)
        epoch0 = [b.z.clone() for b in DataLoader(data, "pack", 8, seed=4)]
        ref = DataLoader(data, "pack", 8, seed=4)
        ref.set_epoch(5)
        epoch5 = [b.z.clone() for b in ref]
        it = iter(loader)
        first = [next(it).z.clone() for _ in range(3)]
        loader.set_epoch(5)
        assert loader.state_dict()["epoch"] == 5 and loader.state_dict()["position"] == 0
        rest = [b.z.clone() for b in it]  # the pass in progress runs to its end as planned
        assert all(torch.equal(a, b) for a, b in zip(first + rest, epoch0))
        assert len(first + rest) == len(epoch0)
        nxt = [b.z.clone() for b in loader]  # the next pass is epoch 5 from its first batch
        assert len(nxt) == len(epoch5) and all(torch.equal(a, b) for a, b in zip(nxt, epoch5))


def _assert_same_batch(a, b):
    assert type(a) is type(b)
    assert set(a.keys()) == set(b.keys())
    for k in a.keys():
        if torch.is_tensor(a[k]):
            assert torch.equal(a[k], b[k]), k
        else:
            assert a[k] == b[k], k
    assert a.num_graphs == b.num_graphs and len(a) == len(b)


def test_a_padded_batch_saves_loads_and_pickles(qm9, tmp_path):
    import pickle

    data = molecules(qm9, 60)
    batch = next(iter(DataLoader(data, "pack", 8, seed=0)))
    torch.save(batch, tmp_path / "batch.pt")
    loaded = torch.load(tmp_path / "batch.pt", weights_only=False)
    _assert_same_batch(loaded, batch)
    for a, b in zip(loaded.to_data_list(), batch.to_data_list()):
        _equal_data(a, b)
    _assert_same_batch(pickle.loads(pickle.dumps(batch)), batch)


def _echo(q_in, q_out):
    batch = q_in.get(timeout=120)
    q_out.put((batch, batch.num_real_graphs, float(batch.pos.sum())))
    # a process that sent tensors through shared memory lives until they are received (torch's
    # rule for torch.multiprocessing): the parent says when
    q_in.get(timeout=120)


def test_batches_cross_processes(qm9):
    """torch.multiprocessing queues (shared memory) carry a padded batch to another process and
    back."""
    import torch.multiprocessing as mp

    data = molecules(qm9, 60)
    batch = next(iter(DataLoader(data, "pack", 8, seed=0)))
    ctx = mp.get_context("spawn")
    q_in, q_out = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=_echo, args=(q_in, q_out))
    p.start()
    q_in.put(batch)
    back, real, pos_sum = q_out.get(timeout=300)
    q_in.put("received")
    p.join(timeout=60)
    assert p.exitcode == 0
    assert real == batch.num_real_graphs and pos_sum == pytest.approx(float(batch.pos.sum()))
    _assert_same_batch(back, batch)


def test_pin_memory_without_an_accelerator_warns_as_torchs_loader(qm9):
    if torch.cuda.is_available():
        pytest.skip("an accelerator is present: pinning works")
    with pytest.warns(UserWarning, match="pin_memory"):
        loader = DataLoader(molecules(qm9, 40), "pack", 8, pin_memory=True)
    assert len(list(loader)) == len(loader.sampler.plan())


def test_padcollate_and_the_loader_give_one_layout(qm9):
    """The same planned batch from PadCollate (torch's DataLoader over PyG Data) and from
    geobatch.torch.DataLoader: the same PaddedBatch, tensor for tensor."""
    from torch.utils.data import DataLoader as TorchLoader

    from geobatch.torch import PadCollate, PlannedDataset

    data = molecules(qm9, 120)
    ours = DataLoader(data, "static", 8, seed=3, pad="multiple64")
    sampler = geobatch.BatchSampler(ours.store.sizes, kind="static", batch_size=8, seed=3, pad="multiple64")
    theirs = TorchLoader(PlannedDataset(data), batch_sampler=sampler, collate_fn=PadCollate())
    n = 0
    for a, b in zip(ours, theirs):
        _assert_same_batch(a, b)
        rn = int(a.node_mask.sum())
        pad = a.edge_index[:, ~a.edge_mask]
        assert (pad[0] == rn).all() and (pad[1] == rn + 1).all()  # no padding self-loop
        n += 1
    assert n == len(sampler.plan())
    assert repr(PadCollate()) == "PadCollate(shape=None)"
    assert repr(PlannedDataset(data)) == "PlannedDataset(120 graphs of list)"


@pytest.mark.parametrize("prefetch", [0, 2])
def test_a_loader_pickles_and_copies_in_the_middle_of_a_pass(qm9, prefetch):
    """A loader that had started a pass held its native collator and, with prefetch, a thread
    (cannot pickle 'geobatch._native.Collator' / '_thread.lock'): pickle.dumps and
    copy.deepcopy failed. Now the copy is the loader standing where state_dict() says, and its
    next pass gives the batches this loop has not taken."""
    import copy
    import pickle

    data = molecules(qm9, 200)
    loader = DataLoader(data, "pack", 8, seed=2, prefetch=prefetch)
    for copied in (pickle.loads(pickle.dumps(loader)), copy.deepcopy(loader)):
        assert copied.state_dict() == loader.state_dict() and len(copied) == len(loader)
    it = iter(loader)
    taken = [next(it) for _ in range(3)]
    state = loader.state_dict()
    copies = [pickle.loads(pickle.dumps(loader)), copy.deepcopy(loader)]
    rest = [b.z.clone() for b in it]
    assert len(taken) + len(rest) == len(DataLoader(data, "pack", 8, seed=2))
    for copied in copies:
        assert copied.state_dict() == state and copied.prefetch == prefetch
        got = [b.z.clone() for b in copied]
        assert len(got) == len(rest) and all(torch.equal(a, b) for a, b in zip(got, rest))
        assert copied.state_dict() == loader.state_dict()  # both at the next epoch's start
    # after the pass, and after set_epoch between passes: where state_dict() says
    loader.set_epoch(4)
    assert loader.state_dict()["epoch"] == 4 and loader.state_dict()["position"] == 0
    again = copy.deepcopy(loader)
    assert again.state_dict() == loader.state_dict()
    first = [b.z.clone() for b in loader]
    assert all(torch.equal(a, b.z) for a, b in zip(first, again))


def test_a_pass_in_progress_on_another_thread_is_not_cut_short(qm9):
    pytest.importorskip("torch_geometric")
    import threading

    import geobatch.torch

    loader = geobatch.torch.DataLoader(qm9.splits["train"], "pack", 32, seed=0, prefetch=2)
    n = len(loader)
    first = iter(loader)
    next(first)
    errors = []

    def second():
        try:
            iter(loader)
        except RuntimeError as e:
            errors.append(str(e))

    t = threading.Thread(target=second)
    t.start()
    t.join()
    assert errors and "another thread is iterating a pass" in errors[0]
    # the first pass goes on, whole: every batch of the plan
    assert 1 + sum(1 for _ in first) == n
    # once it ended, another thread may take the loader
    done = []
    t = threading.Thread(target=lambda: done.append(sum(1 for _ in loader)))
    t.start()
    t.join()
    assert done and done[0] > 0


def test_attributes_that_are_not_tensors_are_carried_as_pyg_does(qm9):
    import geobatch.torch

    train = qm9.splits["train"]
    data = []
    for g in range(40):
        a, b = train.node_offsets[g], train.node_offsets[g + 1]
        n = int(b - a)
        r, s = np.divmod(np.arange(n * n), n)
        keep = r != s
        data.append(Data(pos=torch.from_numpy(train.nodes["positions"][a:b].copy()),
                         edge_index=torch.from_numpy(np.stack([s[keep], r[keep]])),
                         smiles=f"molecule-{g}", natoms=n))
    loader = geobatch.torch.DataLoader(data, "pack", 8, seed=0)
    plan = loader.sampler.plan()
    for b, batch in enumerate(loader):
        graphs = plan[b].tolist()
        assert batch.smiles == [f"molecule-{g}" for g in graphs]
        assert batch.natoms[: batch.num_real_graphs].tolist() == [data[g].num_nodes for g in graphs]
        assert [d.smiles for d in batch.to_data_list()] == batch.smiles
        items = geobatch.torch.PlannedDataset(data).__getitems__(_planned(plan, b))
        slow = geobatch.torch.PadCollate()(items)
        assert slow.smiles == batch.smiles and torch.equal(slow.natoms, batch.natoms)


def _planned(plan, b):
    from geobatch.sampler import PlannedBatch

    return PlannedBatch(plan[b].tolist(), tuple(int(x) for x in plan.padded[b]))
