"""GraphStore and Collator: the padded layout against a NumPy reference, full and stored edges,
graph rules, geobatch's datasets, reused buffers, jraph and torch views; bad input named."""

import os
import re

import numpy as np
import pytest

import geobatch


def random_store(rng, n=40, full=False):
    n_node = rng.integers(1, 9, size=n)
    total = int(n_node.sum())
    nodes = {"x": rng.normal(size=(total, 3)).astype(np.float32), "z": rng.integers(1, 9, size=total).astype(np.int64)}
    graphs = {"y": rng.normal(size=(n, 2))}
    if full is True:
        return geobatch.GraphStore(n_node, nodes=nodes, graphs=graphs, full=True)
    n_edge = rng.integers(0, 12, size=n)
    parts = [np.stack([rng.integers(0, m, size=e), rng.integers(0, m, size=e)]) for m, e in zip(n_node, n_edge)]
    if full == "mixed":
        # every other graph stored fully connected in geobatch's order (receiver-major), as PyG's
        # QM9 holds it: collated from the pattern, which must give what the stored edges give
        for g in range(0, n, 2):
            r, s_ = np.divmod(np.arange(n_node[g] ** 2), n_node[g])
            parts[g] = np.stack([s_[r != s_], r[r != s_]])
            n_edge[g] = parts[g].shape[1]
        # and one with the pattern's edges in another order: read as stored
        m = int(n_node[1])
        if m > 2:
            r, s_ = np.divmod(np.arange(m * m), m)
            parts[1] = np.stack([s_[r != s_], r[r != s_]])[:, ::-1]
            n_edge[1] = parts[1].shape[1]
    ei = np.concatenate(parts, axis=1)
    edges = {"w": rng.normal(size=(int(n_edge.sum()),)).astype(np.float32)}
    return geobatch.GraphStore(n_node, nodes=nodes, edges=edges, graphs=graphs, edge_index=ei, n_edge=n_edge)


def reference(store, idx, padded):
    """jraph's pad_with_graphs layout, written out with NumPy."""
    pn, pe, pg = padded
    no, cnt = store.node_offsets, store.n_node
    parts_s, parts_r, node_graph = [], [], []
    at = 0
    for b, g in enumerate(idx):
        n = int(cnt[g])
        if store.full:
            r, s = np.divmod(np.arange(n * n), n)
            keep = r != s
            s, r = s[keep], r[keep]
        else:
            e0, e1 = store.edge_offsets[g], store.edge_offsets[g + 1]
            s, r = store.senders[e0:e1], store.receivers[e0:e1]
        parts_s.append(s + at)
        parts_r.append(r + at)
        node_graph += [b] * n
        at += n
    s = np.concatenate(parts_s + [np.full(pe - sum(map(len, parts_s)), at)])
    r = np.concatenate(parts_r + [np.full(pe - sum(map(len, parts_r)), at)])
    out = {"senders": s, "receivers": r, "node_graph": np.array(node_graph + [len(idx)] * (pn - at))}
    for k, a in store.nodes.items():
        rows = np.concatenate([a[no[g] : no[g + 1]] for g in idx])
        out["n." + k] = np.concatenate([rows, np.zeros((pn - len(rows),) + a.shape[1:], a.dtype)])
    for k, a in store.edges.items():
        rows = np.concatenate([a[store.edge_offsets[g] : store.edge_offsets[g + 1]] for g in idx])
        out["e." + k] = np.concatenate([rows, np.zeros((pe - len(rows),) + a.shape[1:], a.dtype)])
    for k, a in store.graphs.items():
        out["g." + k] = np.concatenate([a[idx], np.zeros((pg - len(idx),) + a.shape[1:], a.dtype)])
    n_node = np.zeros(pg, int)
    n_node[: len(idx)] = cnt[idx]
    n_node[len(idx)] = pn - at
    n_edge = np.zeros(pg, int)
    n_edge[: len(idx)] = store.n_edge[idx]
    n_edge[len(idx)] = pe - len(parts_s) and pe - sum(map(len, parts_s))
    out["n_node"], out["n_edge"] = n_node, n_edge
    out["graph_mask"] = np.arange(pg) < len(idx)
    return out


def compare(batch, want):
    got = {"senders": batch.senders, "receivers": batch.receivers, "node_graph": batch.node_graph,
           "n_node": batch.n_node, "n_edge": batch.n_edge, "graph_mask": batch.graph_mask}
    got.update({"n." + k: v for k, v in batch.nodes.items()})
    got.update({"e." + k: v for k, v in batch.edges.items()})
    got.update({"g." + k: v for k, v in batch.graphs.items()})
    assert got.keys() == want.keys()
    for k in want:
        assert np.array_equal(got[k], want[k]), k


@pytest.mark.parametrize("full", [False, True, "mixed"])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("kind,options", [("pack", {}), ("static", {"pad": "multiple64"})])
def test_collation_matches_the_reference_layout(full, index_dtype, kind, options):
    rng = np.random.default_rng(11)
    store = random_store(rng, full=full)
    plan = geobatch.Planner(kind, 6, **options).plan_epoch(store.sizes, seed=2)
    c = store.collator(plan.padded.max(axis=0), index_dtype=index_dtype)
    for b in range(len(plan)):
        batch = c.collate_plan(plan, b)
        assert batch.senders.dtype == index_dtype
        assert batch.real == tuple(int(x) for x in plan.real[b])
        compare(batch, reference(store, plan[b], tuple(int(x) for x in plan.padded[b])))


def test_a_batch_dropped_before_the_next_collation_leaves_its_buffers_to_it():
    store = random_store(np.random.default_rng(1))
    plan = geobatch.Planner("pack", 6).plan_epoch(store.sizes, seed=0)
    c = store.collator(plan.padded[0])
    pointer = c.collate_plan(plan, 0).senders.ctypes.data
    for b in range(1, len(plan)):
        # nothing refers to the last batch: one set of buffers, no allocation
        assert c.collate_plan(plan, b).senders.ctypes.data == pointer
    assert c.buffers == 1


def test_a_batch_in_use_is_never_overwritten():
    """The lifetime contract: whatever still refers to a batch (the batch, one array, a view of
    one, a list of batches) keeps its values while later batches are collated."""
    store = random_store(np.random.default_rng(1))
    plan = geobatch.Planner("pack", 6).plan_epoch(store.sizes, seed=0)
    c = store.collator(plan.padded.max(axis=0))
    want = [reference(store, plan[b], tuple(int(x) for x in plan.padded[b])) for b in range(len(plan))]
    kept = [c.collate_plan(plan, b) for b in range(len(plan))]
    for b, batch in enumerate(kept):
        compare(batch, want[b])
    assert c.buffers == len(plan)
    del kept
    # a loop that keeps the previous batch while making the next uses two sets
    c = store.collator(plan.padded.max(axis=0))
    batch = None
    arrays = []
    for b in range(len(plan)):
        batch = c.collate_plan(plan, b)
        arrays.append(batch.nodes["x"][:3])  # a view outlives its batch
        np.testing.assert_array_equal(arrays[-1], want[b]["n.x"][:3])
    for b, a in enumerate(arrays):
        np.testing.assert_array_equal(a, want[b]["n.x"][:3])
    del arrays, batch, a
    c.collate_plan(plan, 0)
    first = c.collate_plan(plan, 1).senders.ctypes.data
    second = c.collate_plan(plan, 2).senders.ctypes.data
    assert first == second


def test_copy_false_keeps_the_callers_arrays_writable():
    """copy=False keeps the caller's array itself, writable, and reads it at every collation:
    a change shows in later batches (docs/python.md says so)."""
    x = np.arange(14, dtype=np.float32).reshape(7, 2)
    store = geobatch.GraphStore([3, 4], nodes={"x": x}, edge_index=[[0, 1], [1, 0]], n_edge=[1, 1],
                                copy=False)
    assert store.nodes["x"] is x and x.flags.writeable
    c = store.collator((8, 2, 3))
    assert c.collate([0], (4, 1, 2)).nodes["x"][0, 0] == 0
    x[0, 0] = 5
    assert c.collate([0], (4, 1, 2)).nodes["x"][0, 0] == 5


def test_a_store_owns_its_arrays():
    rng = np.random.default_rng(8)
    n_node = np.array([3, 4])
    x = rng.normal(size=(7, 2)).astype(np.float32)
    ei = np.array([[0, 1, 2, 0], [1, 2, 0, 3]], dtype=np.int32)
    store = geobatch.GraphStore(n_node, nodes={"x": x}, edge_index=ei, n_edge=[2, 2])
    x[:] = 99.0
    ei[:] = 2_000_000_000
    assert (store.nodes["x"] != 99.0).all() and store.senders.max() < 4
    with pytest.raises(ValueError, match="read-only"):
        store.nodes["x"][0] = 1.0
    batch = store.collator((16, 16, 3)).collate([0, 1], (16, 16, 3))
    assert batch.senders[: batch.real[1]].max() < 7 and batch.real == (7, 4, 2)
    assert "GraphStore(2 graphs, 7 nodes, 4 edges; nodes=['x'])" == repr(store)


def test_geometry_edges_follow_geobatchs_rules():
    rng = np.random.default_rng(4)
    n_node = np.array([5, 7, 3])
    pos = rng.uniform(0, 4, size=(15, 3))
    z = np.full(15, 6)
    store = geobatch.GraphStore.from_geometry(z, pos, n_node, graph={"kind": "cutoff", "radius": 2.5})
    no = store.node_offsets
    for g in range(3):
        p = pos[no[g] : no[g + 1]]
        d = np.linalg.norm(p[:, None] - p[None], axis=-1)
        want = int(((d < 2.5) & ~np.eye(len(p), dtype=bool)).sum())
        assert store.n_edge[g] == want
    e = store.edges["edge_vectors"]
    s, r = store.senders, store.receivers
    g0 = slice(0, int(store.n_edge[0]))
    assert np.allclose(e[g0], pos[r[g0]] - pos[s[g0]], atol=1e-5)
    # the store of the native edges (taken unchecked and uncopied) is the store the checked
    # constructor makes of the same arrays, and owns them as read-only as that one does
    same = geobatch.GraphStore(n_node, nodes=store.nodes, edges=store.edges,
                               edge_index=np.stack([s, r]), n_edge=store.n_edge)
    for a, b in [(store.n_edge, same.n_edge), (store.edge_offsets, same.edge_offsets),
                 (store.node_offsets, same.node_offsets), (s, same.senders), (r, same.receivers),
                 (e, same.edges["edge_vectors"]), (store.sizes, same.sizes)]:
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert set(store.nodes) == {"atomic_numbers", "positions"} and not store.full
    for a in [s, r, e, *store.nodes.values()]:
        assert not a.flags.writeable
    full = geobatch.GraphStore.from_geometry(z, pos, n_node)
    assert full.full and list(full.n_edge) == [20, 42, 6]
    # periodic: every atom of a cubic cell gets k neighbours among the images
    cell = np.eye(3)[None] * 3.0
    per = geobatch.GraphStore.from_geometry([8, 8], [[0, 0, 0], [1.5, 1.5, 1.5]], [2],
                                            graph={"kind": "knn", "k": 6}, cells=cell, pbc=[[True] * 3])
    assert per.n_edge[0] >= 12
    # ASE's layers and tubes: a zero lattice vector along the open directions
    layer = np.array([[2.0, 0, 0], [0, 2.0, 0], [0, 0, 0]])
    tube = np.array([[0, 0, 0], [0, 0, 0], [0, 0, 2.0]])
    low = geobatch.GraphStore.from_geometry([6, 6], [[0, 0, 0], [0, 0, 5]], [1, 1],
                                            graph={"kind": "cutoff", "radius": 2.1},
                                            cells=np.stack([layer, tube]),
                                            pbc=[[True, True, False], [False, False, True]])
    assert list(low.n_edge) == [4, 2]
    assert sorted(map(tuple, np.abs(low.edges["edge_vectors"][4:]).tolist())) == [(0, 0, 2)] * 2
    with pytest.raises(ValueError, match="radius"):
        geobatch.GraphStore.from_geometry(z, pos, n_node, graph={"kind": "cutoff", "radius": -1})
    with pytest.raises(ValueError, match="not finite"):
        geobatch.GraphStore.from_geometry(z, np.full((15, 3), np.nan), n_node, graph={"kind": "cutoff", "radius": 2})


def test_full_refuses_what_the_cli_refuses():
    """`full` refuses two atoms at one position and periodic cells, and a key of another rule
    (`radius`) is refused by name, as the CLI's configs are (issue 58): they were accepted."""
    z, n_node = [6, 6, 8], [3]
    twice = [[0.0, 0, 0], [0.0, 0, 0], [1.2, 0, 0]]
    with pytest.raises(ValueError, match="atoms 0 and 1 are at one position"):
        geobatch.GraphStore.from_geometry(z, twice, n_node)
    with pytest.raises(ValueError, match="atoms 0 and 1 are at one position"):
        geobatch.GraphStore.from_geometry(z, twice, n_node, graph={"kind": "full"},
                                          cells=np.eye(3)[None] * 9, pbc=[[False] * 3])
    apart = [[0.0, 0, 0], [1.1, 0, 0], [0, 1.2, 0]]
    with pytest.raises(ValueError, match="graph.radius does nothing under kind = \"full\""):
        geobatch.GraphStore.from_geometry(z, apart, n_node, graph={"kind": "full", "radius": 5.0})
    with pytest.raises(ValueError, match="periodic"):
        geobatch.GraphStore.from_geometry(z, apart, n_node, graph="full",
                                          cells=np.eye(3)[None] * 3, pbc=[[True] * 3])
    assert geobatch.GraphStore.from_geometry(z, apart, n_node).n_edge[0] == 6


def test_geobatch_qm9_collates_as_geobatch_does(qm9):
    train = qm9.splits["train"]
    assert train.full and set(train.nodes) == {"species", "atomic_numbers", "positions"}
    assert train.graphs["targets"].shape == (len(train), len(qm9.target_names))
    plan = geobatch.Planner("dynamic", 32).plan_epoch(train.sizes, seed=42)
    c = train.collator(plan.padded[0])
    batch = c.collate_plan(plan, 3)
    compare(batch, reference(train, plan[3], tuple(int(x) for x in plan.padded[3])))
    # receivers non-decreasing across the whole batch, as geobatch's own batches
    assert (np.diff(batch.receivers) >= 0).all()
    assert qm9.ids["train"][0] and len(qm9.ids["train"]) == len(train)


def test_load_dataset_by_table_and_errors(repo):
    syn = geobatch.load_dataset(kind="synthetic", seed=3)
    assert len(syn.splits["train"]) > 0
    with pytest.raises(ValueError, match="the graph-level datasets are"):
        geobatch.load_dataset(kind="qm10")
    with pytest.raises(ValueError, match="unknown field"):
        geobatch.load_dataset(kind="synthetic", molecules=3, nonsense=1)
    with pytest.raises(ValueError, match="no .dataset. table|No such file"):
        geobatch.load_dataset(str(repo / "does-not-exist.toml"))


def test_own_structures_extxyz_and_ase_databases(repo):
    """A user's own structures (extended XYZ, ASE SQLite and JSON databases) read from Python by
    the same plugins as `geobatch run`, planned and collated."""
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        xyz = geobatch.load_dataset("configs/examples/extxyz-schnet-dynamic.toml")
        fx = "plugins/dataset-asedb/tests/fixtures/"
        dbs = [
            geobatch.load_dataset(kind="asedb", path=fx + name, targets=["energy"],
                                  graph={"kind": "cutoff", "radius": 5.0})
            for name in ("structures.db", "structures.json")
        ]
    finally:
        os.chdir(cwd)
    assert xyz.target_names == ["U0"]
    total = sum(len(s) for s in xyz.splits.values())
    assert total == 100, total
    # the two database formats hold the same structures: the same graphs
    a, b = (d.splits["train"] for d in dbs)
    assert np.array_equal(a.sizes, b.sizes) and len(a) > 0
    np.testing.assert_allclose(a.graphs["targets"], b.graphs["targets"])
    for store in (xyz.splits["train"], a):
        plan = geobatch.Planner("pack", 8).plan_epoch(store.sizes, seed=0)
        batch = store.collator(plan.padded.max(axis=0)).collate_plan(plan, 0)
        assert batch.n_node[batch.graph_mask].sum() == plan.real[0, 0]
    with pytest.raises(ValueError, match="no_such.xyz"):
        geobatch.load_dataset(kind="extxyz", path=str(repo / "no_such.xyz"), targets=["U0"])


@pytest.mark.parametrize(
    "make,words",
    [
        (lambda: geobatch.GraphStore([2, -1], full=True), "n_node[1] = -1"),
        (lambda: geobatch.GraphStore([2, 3], nodes={"x": np.zeros(4)}, full=True), "has 4 rows, expected 5"),
        (lambda: geobatch.GraphStore([2, 3], graphs={"y": np.zeros(3)}, full=True), "has 3 rows, expected 2"),
        (lambda: geobatch.GraphStore([2, 3], edge_index=[[0], [1]], n_edge=[1, 1]), "edge_index has 1 edges"),
        (lambda: geobatch.GraphStore([2, 3], edge_index=[[0, 2], [2, 0]], n_edge=[1, 1]), "(graph 0)"),
        (lambda: geobatch.GraphStore([2, 3], edge_index=[[0, 0], [1, 3]], n_edge=[1, 1]), "graph 1"),
        (lambda: geobatch.GraphStore([2, 3], edge_index=[[0], [1]], n_edge=[1]), "n_edge has 1 graphs"),
        (lambda: geobatch.GraphStore([2, 3]), "full=True"),
        (lambda: geobatch.GraphStore([2], nodes={"o": np.array([object(), 1])}, full=True), "numeric"),
    ],
)
def test_bad_stores_are_named(make, words):
    with pytest.raises((ValueError, TypeError)) as e:
        make()
    assert words in str(e.value)


def test_bad_collations_are_refused_not_crashed():
    store = random_store(np.random.default_rng(2))
    c = store.collator((64, 256, 8))
    with pytest.raises(ValueError, match=r"indices\[1\] = 400"):
        c.collate([0, 400], (64, 256, 8))
    with pytest.raises(ValueError, match=r"indices\[0\] = -1"):
        c.collate([-1], (64, 256, 8))
    with pytest.raises(ValueError, match="cannot hold"):
        c.collate([0, 1, 2], (2, 256, 8))
    with pytest.raises(ValueError, match="capacity"):
        c.collate([0], (65, 256, 8))
    plan = geobatch.Planner("pack", 6).plan_epoch(store.sizes, seed=0)
    with pytest.raises(ValueError, match=f"batch {len(plan)} of a plan of {len(plan)} batches"):
        c.collate_plan(plan, len(plan))
    # negative batch numbers count from the end, as for the plan itself
    last = store.collator(plan.padded.max(axis=0)).collate_plan(plan, -1)
    compare(last, reference(store, plan[-1], tuple(int(x) for x in plan.padded[-1])))
    with pytest.raises((ValueError, OverflowError)):
        c.collate_plan(plan, -len(plan) - 1)
    with pytest.raises(TypeError, match="batch must be an integer"):
        c.collate_plan(plan, 1.0)
    with pytest.raises(TypeError, match="indices must be integers"):
        c.collate([0.0, 1.7], (64, 256, 8))
    with pytest.raises(ValueError, match="offsets must rise"):
        c._native.bind(plan.indices, plan.offsets[::-1].copy(), plan.padded)
    with pytest.raises(TypeError):
        store.collator((64, 256, 8))._native.collate_bound(plan, 0)  # not a bound plan
    with pytest.raises(ValueError, match="int32 or int64"):
        store.collator((64, 256, 8), index_dtype=np.float32)


def test_jraph_graphs_tuple():
    jraph = pytest.importorskip("jraph")
    store = random_store(np.random.default_rng(5))
    plan = geobatch.Planner("dynamic", 6).plan_epoch(store.sizes, seed=0)
    b = store.collator(plan.padded[0]).collate_plan(plan, 0)
    g = b.to_jraph()
    assert isinstance(g, jraph.GraphsTuple)
    assert np.array_equal(np.asarray(jraph.get_graph_padding_mask(g)), b.graph_mask)
    assert np.array_equal(np.asarray(jraph.get_node_padding_mask(g)), np.arange(b.padded[0]) < b.real[0])
    assert np.array_equal(np.asarray(jraph.get_edge_padding_mask(g)), np.arange(b.padded[1]) < b.real[1])


def test_torch_tensors_share_the_buffers():
    torch = pytest.importorskip("torch")
    store = random_store(np.random.default_rng(6))
    plan = geobatch.Planner("pack", 6).plan_epoch(store.sizes, seed=0)
    b = store.collator(plan.padded[0], index_dtype=np.int64).collate_plan(plan, 0)
    t = b.to_torch()
    assert t["senders"].dtype == torch.int64
    assert t["x"].data_ptr() == b.nodes["x"].ctypes.data
    assert int(t["graph_mask"].sum()) == b.real[2]


def test_a_slice_of_senders_or_receivers_keeps_its_batch():
    # senders and receivers are rows of one (2, edges) array: a slice of a slice refers to it
    store = random_store(np.random.default_rng(11))
    plan = geobatch.Planner("pack", 6).plan_epoch(store.sizes, seed=0)
    c = store.collator(plan.padded.max(axis=0))
    first = c.collate_plan(plan, 0)
    want = first.receivers[:5].copy()
    kept = first.receivers[:5]
    del first
    for b in range(1, len(plan)):
        c.collate_plan(plan, b)
    assert np.array_equal(kept, want)


def test_a_dataset_larger_than_memory_is_an_exception_not_an_abort():
    """load_dataset(kind="synthetic", graphs=10**9) used to abort the interpreter (a failed
    allocation in Rust); it is refused before generation, naming the option."""
    with pytest.raises(ValueError, match=r"dataset\.graphs = 1000000000.*GiB"):
        geobatch.load_dataset(kind="synthetic", graphs=10**9)


def test_sizes_are_held_against_the_processs_own_limit():
    """A size that fits the machine but not the process's address-space limit (``ulimit -v``, as
    a cluster job sets one) is an exception naming the limit, not an abort: the package reads
    the limits with the runner's own code (geobatch_process::memory)."""
    import subprocess
    import sys

    code = (
        "import resource, geobatch\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, resource.RLIM_INFINITY))\n"
        "have, which = geobatch._native.memory_limit()\n"
        "assert have < 2 * 2**30 and 'ulimit -v' in which, (have, which)\n"
        "try:\n"
        "    geobatch.load_dataset(kind='synthetic', graphs=10**7)\n"
        "except ValueError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "dataset.graphs = 10000000" in out.stdout and "ulimit -v" in out.stdout, out.stdout


@pytest.mark.parametrize(
    "node_offsets,edge_offsets,senders,receivers,words",
    [
        ([0, 2, 5], [0, 2, 4], [1, 0, 0, 1], [0, 1, 1], "senders and receivers must hold the 4 stored edges"),
        ([0, 2, 5], [0, 2], [1, 0], [0, 1], "one entry per graph + 1"),
        ([], [0], [], [], "node_offsets must start at 0"),
        ([0, 2, 5], [0, 2, 1], [1, 0], [0, 1], "edge_offsets decreases at graph 1"),
        ([0, 2, 5], [0, 2, 4], [1, 0, 0, 7], [0, 1, 1, 0], "edge 3 of graph 1"),
    ],
)
def test_the_native_collator_refuses_arrays_that_disagree(node_offsets, edge_offsets, senders, receivers, words):
    """The engine's checks run before any address is used: lengths that disagree are errors,
    never reads past an array (the native class is called directly, as the package does)."""
    i64 = lambda a: np.asarray(a, dtype=np.int64)  # noqa: E731
    i32 = lambda a: np.asarray(a, dtype=np.int32)  # noqa: E731
    with pytest.raises(ValueError, match=re.escape(words)):
        geobatch._native.Collator(
            node_offsets=i64(node_offsets), edge_offsets=i64(edge_offsets),
            senders_local=i32(senders), receivers_local=i32(receivers),
            node_src=[], edge_src=[], graph_src=[], node_dtypes=[], edge_dtypes=[], graph_dtypes=[],
            capacity=(8, 16, 4), index_dtype=np.dtype(np.int32), pyg=False, max_free=2)


def test_geometry_refuses_atomic_numbers_radii_and_k_that_are_no_such_thing():
    """Atomic numbers 0, 119, -1 and 6.5 were stored; a radius of 1e-300 gave a store without a
    single edge, and bad radii and k were named by the rule reader's serde message."""
    pos = [[0.0, 0, 0], [1.1, 0, 0], [0, 1.2, 0], [5.0, 5, 5], [6.0, 5, 5]]
    n_node = [3, 2]
    for z, row, value in (([6, 1, 1, 8, 0], 4, "0"), ([6, 119, 1, 8, 8], 1, "119"),
                          ([6, 1, -1, 8, 8], 2, "-1"), ([6.0, 1.0, 1.0, 6.5, 8.0], 3, "6.5")):
        graph, atom = (0, row) if row < 3 else (1, row - 3)
        words = rf"atomic_numbers\[{row}\] = {value} \(graph {graph}, atom {atom}\): atomic numbers are whole numbers 1\.\.118"
        for rule in ("full", {"kind": "cutoff", "radius": 2.0}, {"kind": "knn", "k": 1}):
            with pytest.raises(ValueError, match=words):
                geobatch.GraphStore.from_geometry(z, pos, n_node, graph=rule)
    with pytest.raises(TypeError, match="atomic_numbers must be integers 1..118, got dtype bool"):
        geobatch.GraphStore.from_geometry([True] * 5, pos, n_node)
    z = [6, 1, 1, 118, 8]
    assert geobatch.GraphStore.from_geometry([6.0, 1.0, 1.0, 118.0, 8.0], pos, n_node).full
    for radius, error in ((0.0, ValueError), (-2, ValueError), (float("inf"), ValueError),
                          (float("nan"), ValueError), ("5", TypeError), (True, TypeError),
                          ([5.0], TypeError)):
        with pytest.raises(error, match=r"graph\.radius = .*: a cutoff radius must be a positive, finite number of Angstrom"):
            geobatch.GraphStore.from_geometry(z, pos, n_node, graph={"kind": "cutoff", "radius": radius})
    for k, error in ((0, ValueError), (-1, ValueError), (1.5, TypeError), (2.0, TypeError),
                     (True, TypeError), ("2", TypeError), (10**30, ValueError)):
        with pytest.raises(error, match=rf"graph\.k = {k!r}: k \(neighbours per atom\) must be a positive integer"):
            geobatch.GraphStore.from_geometry(z, pos, n_node, graph={"kind": "knn", "k": k})
    assert geobatch.GraphStore.from_geometry(z, pos, n_node, graph={"kind": "knn", "k": np.int64(1)}).n_edge.tolist() == [3, 2]
    # a cutoff so small that no atom has a neighbour: refused, with the radius, as `geobatch run`
    # refuses it (one rule, both doors); one that leaves most atoms alone: said
    with pytest.raises(ValueError, match=r"gives no edge at all in the 2 graphs.*graph\.radius = 1e-300 Angstrom"):
        geobatch.GraphStore.from_geometry(z, pos, n_node, graph={"kind": "cutoff", "radius": 1e-300})
    with pytest.warns(UserWarning, match=r"leaves 3 of the 5 atoms \(60%\) without a neighbour"):
        few = geobatch.GraphStore.from_geometry(z, pos, n_node, graph={"kind": "cutoff", "radius": 1.05})
    assert few.n_edge.tolist() == [0, 2]
    # single atoms have no edge whatever the radius: nothing to say
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lone = geobatch.GraphStore.from_geometry([6, 8], [[0.0, 0, 0], [0, 0, 0]], [1, 1],
                                                 graph={"kind": "cutoff", "radius": 5.0})
    assert lone.n_edge.tolist() == [0, 0]
