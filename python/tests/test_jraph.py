"""jraph users: GraphsTuples into a GraphStore and geobatch.jraph.dynamically_batch as a drop-in
for jraph.dynamically_batch (the same padded tuples for kind="dynamic"; pack fills the same
shape more fully). Runs where jraph is installed (target/python-env, CI)."""

import numpy as np
import pytest

import geobatch
import geobatch.jraph

jraph = pytest.importorskip("jraph", reason="jraph is not installed (scripts/python-env.sh)")


def tuples(n=200, seed=0, dict_features=True):
    """Random molecules as single-graph GraphsTuples, fully connected, as a jraph user has them."""
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
            nodes=nodes, edges=edges, senders=s[keep].astype(np.int32),
            receivers=r[keep].astype(np.int32), n_node=np.array([m], dtype=np.int32),
            n_edge=np.array([int(keep.sum())], dtype=np.int32),
            globals=rng.normal(size=(1, 2)).astype(np.float32),
        ))
    return out


def _same(a, b):
    import jax.tree_util as tu

    la, ta = tu.tree_flatten(a)
    lb, tb = tu.tree_flatten(b)
    assert ta == tb
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("dict_features", [True, False])
def test_dynamic_gives_jraphs_own_padded_tuples(dict_features):
    graphs = tuples(dict_features=dict_features)
    budget = dict(n_node=40, n_edge=400, n_graph=6)
    want = list(jraph.dynamically_batch(iter(graphs), **budget))
    got = list(geobatch.jraph.dynamically_batch(iter(graphs), **budget))
    assert len(got) == len(want) > 10
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
    # no graphs: no batches, as jraph's
    assert list(geobatch.jraph.dynamically_batch(iter([]), 40, 400, 6)) == []
    assert list(jraph.dynamically_batch(iter([]), 40, 400, 6)) == []
    with pytest.raises(ValueError, match="'dynamic' or 'pack'"):
        list(geobatch.jraph.dynamically_batch(iter(graphs), 40, 400, 6, kind="static"))
