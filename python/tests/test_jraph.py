"""jraph users: GraphsTuples into a GraphStore and geobatch.jraph.dynamically_batch as a drop-in
for jraph.dynamically_batch (the same padded tuples for kind="dynamic"; pack fills the same
shape more fully). Runs where jraph is installed (target/python-env, CI)."""

import numpy as np
import pytest

import geobatch
import geobatch.jraph

jraph = pytest.importorskip("jraph", reason="jraph is not installed (scripts/python-env.sh)")


def tuples(n=200, seed=0, dict_features=True, index=np.int32):
    """Random molecules as single-graph GraphsTuples, fully connected, as a jraph user has them
    (``index``: the dtype of senders, receivers and counts; NumPy's default is int64)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        m = int(rng.integers(1, 12))
        r, s = np.divmod(np.arange(m * m), m)
        keep = r != s
        pos = rng.normal(size=(m, 3)).astype(np.float32)
        z = rng.integers(1, 10, size=m).astype(np.int32)
        nodes = {"z": z, "pos": pos} if dict_features else pos
        edges = np.linalg.norm(pos[s[keep]] - pos[r[keep]], axis=1)[:, None].astype(np.float32)
        out.append(jraph.GraphsTuple(
            nodes=nodes, edges=edges, senders=s[keep].astype(index),
            receivers=r[keep].astype(index), n_node=np.array([m], dtype=index),
            n_edge=np.array([int(keep.sum())], dtype=index),
            globals=rng.normal(size=(1, 2)).astype(np.float32),
        ))
    return out


def _same(a, b):
    import jax.tree_util as tu

    la, ta = tu.tree_flatten(a)
    lb, tb = tu.tree_flatten(b)
    assert ta == tb
    for x, y in zip(la, lb):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("dict_features", [True, False])
def test_dynamic_gives_jraphs_own_padded_tuples(dict_features, index):
    graphs = tuples(dict_features=dict_features, index=index)
    budget = dict(n_node=40, n_edge=400, n_graph=6)
    want = list(jraph.dynamically_batch(iter(graphs), **budget))
    got = list(geobatch.jraph.dynamically_batch(iter(graphs), **budget))
    assert len(got) == len(want) > 10
    for a, b in zip(got, want):
        _same(a, b)


def test_tuples_are_read_as_batches_are_made():
    """Like jraph's, the drop-in reads the iterator as it goes: the first batch comes after a
    bounded read-ahead, so an endless stream works (reading every tuple first never yields)."""
    import itertools

    graphs = tuples(50, index=np.int64)
    read = [0]

    def endless():
        for k in itertools.count():
            read[0] += 1
            yield graphs[k % len(graphs)]

    budget = dict(n_node=40, n_edge=400, n_graph=6)
    got = list(itertools.islice(geobatch.jraph.dynamically_batch(endless(), **budget), 30))
    want = list(itertools.islice(jraph.dynamically_batch(endless(), **budget), 30))
    assert len(got) == 30
    for a, b in zip(got, want):
        _same(a, b)
    assert read[0] < 10_000


def test_tuples_of_many_graphs_stay_whole_as_jraphs_do():
    graphs = tuples(90, index=np.int64)
    many = [jraph.batch(graphs[k:k + 3]) for k in range(0, 90, 3)]
    budget = dict(n_node=60, n_edge=700, n_graph=8)
    want = list(jraph.dynamically_batch(iter(many), **budget))
    got = list(geobatch.jraph.dynamically_batch(iter(many), **budget))
    assert len(got) == len(want) > 3
    for a, b in zip(got, want):
        _same(a, b)


def test_a_tuple_over_the_budget_ends_as_jraphs_does():
    graphs = tuples(40, index=np.int64)
    big = tuples(1, seed=5, index=np.int64)[0]
    n = 30
    r, s = np.divmod(np.arange(n * n), n)
    big = big._replace(nodes={"z": np.ones(n, np.int32), "pos": np.zeros((n, 3), np.float32)},
                       edges=np.zeros((n * n - n, 1), np.float32), senders=s[r != s], receivers=r[r != s],
                       n_node=np.array([n]), n_edge=np.array([n * n - n]))
    stream = graphs[:20] + [big] + graphs[20:]
    budget = dict(n_node=20, n_edge=400, n_graph=6)
    want, got = [], []
    with pytest.raises(RuntimeError, match="Found graph bigger than batch size"):
        for t in jraph.dynamically_batch(iter(stream), **budget):
            want.append(t)
    with pytest.raises(RuntimeError, match="Found graph bigger than batch size"):
        for t in geobatch.jraph.dynamically_batch(iter(stream), **budget):
            got.append(t)
    assert len(got) == len(want) > 0
    for a, b in zip(got, want):
        _same(a, b)


def test_pack_fills_the_same_shape_with_every_graph_once():
    graphs = tuples()
    budget = dict(n_node=40, n_edge=400, n_graph=6)
    jr = list(jraph.dynamically_batch(iter(graphs), **budget))
    packed = list(geobatch.jraph.dynamically_batch(iter(graphs), **budget, kind="pack"))
    assert len(packed) <= len(jr)
    seen = []
    for t in packed:
        assert t.nodes["pos"].shape == (40, 3) and t.senders.shape == (400,) and t.n_node.shape == (6,)
        # padding graphs have zero globals; the real ones are random normals
        seen += [tuple(g.tolist()) for g in np.asarray(t.globals) if np.any(g != 0)]
    assert sorted(seen) == sorted(tuple(g.globals[0].tolist()) for g in graphs)


@pytest.mark.parametrize("n_graph", [66, 100, 1000])
def test_pack_takes_any_graph_count(n_graph):
    # a planner over the first 64 tuples refused n_graph >= 66 on its first batch
    graphs = tuples(300)
    budget = dict(n_node=12 * n_graph, n_edge=132 * n_graph, n_graph=n_graph)
    packed = list(geobatch.jraph.dynamically_batch(iter(graphs), **budget, kind="pack"))
    seen = []
    for t in packed:
        assert t.n_node.shape == (n_graph,)
        seen += [tuple(g.tolist()) for g in np.asarray(t.globals) if np.any(g != 0)]
    assert sorted(seen) == sorted(tuple(g.globals[0].tolist()) for g in graphs)
    if n_graph > 300:
        assert len(packed) == 1


def test_tuples_of_many_graphs_are_split_into_their_graphs():
    graphs = tuples(30)
    store = geobatch.GraphStore.from_jraph([jraph.batch(graphs[:10]), jraph.batch(graphs[10:])])
    assert len(store) == 30
    np.testing.assert_array_equal(store.n_node, [int(g.n_node[0]) for g in graphs])
    # edges are local to each graph again
    one = geobatch.GraphStore.from_jraph(graphs)
    np.testing.assert_array_equal(store.senders, one.senders)
    np.testing.assert_array_equal(store.receivers, one.receivers)
    np.testing.assert_array_equal(store.nodes["nodes.pos"], one.nodes["nodes.pos"])


def test_mismatched_tuples_are_refused_by_number():
    graphs = tuples(5)
    odd = graphs[3]._replace(nodes=graphs[3].nodes["pos"])
    with pytest.raises(ValueError, match="GraphsTuple 3 holds nodes"):
        geobatch.GraphStore.from_jraph(graphs[:3] + [odd])
    short = graphs[2]._replace(n_edge=graphs[2].n_edge + 1)
    with pytest.raises(ValueError, match="n_edge"):
        geobatch.GraphStore.from_jraph(graphs[:2] + [short])
    with pytest.raises(ValueError, match="GraphsTuple 3 holds nodes"):
        list(geobatch.jraph.dynamically_batch(iter(graphs[:3] + [odd]), 40, 400, 6))
    bad = graphs[1]._replace(senders=graphs[1].senders + 100)
    with pytest.raises(ValueError, match="an endpoint outside"):
        list(geobatch.jraph.dynamically_batch(iter(graphs[:1] + [bad]), 40, 400, 6))
    # no graphs: no batches, as jraph's
    assert list(geobatch.jraph.dynamically_batch(iter([]), 40, 400, 6)) == []
    assert list(jraph.dynamically_batch(iter([]), 40, 400, 6)) == []
    with pytest.raises(ValueError, match="'dynamic' or 'pack'"):
        list(geobatch.jraph.dynamically_batch(iter(graphs), 40, 400, 6, kind="static"))


def _with(graphs, k, bad):
    return graphs[:k] + [bad] + graphs[k + 1:]


def test_counts_that_are_not_a_tuples_rows_are_refused_by_number():
    """n_node summing to more node rows than a tuple has (or n_edge to more edges) ended in
    NumPy's 'Output array is the wrong shape'; now the tuple's position and counts are named,
    by from_jraph, GraphStore.from_jraph and dynamically_batch (dynamic and pack)."""
    graphs = tuples(60, seed=3)
    k = next(i for i, g in enumerate(graphs) if i > 4 and g.n_node[0] >= 3)
    g = graphs[k]
    m, e = int(g.n_node[0]), int(g.n_edge[0])
    bare = [t._replace(edges=None) for t in graphs]  # senders and receivers alone
    cases = [
        (graphs, g._replace(n_node=g.n_node + 2),
         rf"GraphsTuple {k}: nodes\['z'\] has {m} rows, its n_node sums to {m + 2}"),
        (graphs, g._replace(n_node=g.n_node - 1),
         rf"GraphsTuple {k}: nodes\['z'\] has {m} rows, its n_node sums to {m - 1}"),
        (graphs, g._replace(n_edge=g.n_edge + 3),
         rf"GraphsTuple {k}: edges has {e} rows, its n_edge sums to {e + 3}"),
        (bare, bare[k]._replace(n_edge=g.n_edge + 3),
         rf"GraphsTuple {k}: senders has {e} entries, its n_edge sums to {e + 3}"),
        (bare, bare[k]._replace(receivers=g.receivers[:-1]),
         rf"GraphsTuple {k}: receivers has {e - 1} entries, its n_edge sums to {e}"),
        (graphs, g._replace(globals=np.zeros((2, 2), np.float32)),
         rf"GraphsTuple {k}: globals has 2 rows, it holds 1 graph "),
    ]
    for base, bad, words in cases:
        data = _with(base, k, bad)
        with pytest.raises(ValueError, match=words):
            geobatch.jraph.from_jraph(data)
        with pytest.raises(ValueError, match=words):
            geobatch.GraphStore.from_jraph(data)
        for kind in ("dynamic", "pack"):
            with pytest.raises(ValueError, match=words):
                list(geobatch.jraph.dynamically_batch(iter(data), 60, 600, 8, kind=kind))
    # counts off in two tuples that make up for each other: from_jraph names the first
    two = _with(_with(graphs, k, g._replace(n_node=g.n_node + 1)), k + 1,
                graphs[k + 1]._replace(n_node=graphs[k + 1].n_node - 1))
    with pytest.raises(ValueError, match=rf"GraphsTuple {k}: nodes\['z'\] has {m} rows"):
        geobatch.GraphStore.from_jraph(two)
    with pytest.raises(ValueError, match=rf"GraphsTuple {k}: n_node\[0\] = -1: counts cannot be negative"):
        geobatch.GraphStore.from_jraph(_with(graphs, k, g._replace(n_node=np.array([-1]))))
    with pytest.raises(ValueError, match=rf"GraphsTuple {k}: n_node has 1 entries \(graphs\), n_edge 2"):
        geobatch.GraphStore.from_jraph(_with(graphs, k, g._replace(n_edge=np.array([e, 0]))))
