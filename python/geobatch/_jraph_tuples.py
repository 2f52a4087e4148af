"""jraph's ``GraphsTuple`` and a store's arrays, both ways (jraph is imported on use): a collated
batch as a tuple, tuples as the arrays of a ``GraphStore``, and the checks of a tuple's rows. A leaf
of the package: ``GraphStore`` and ``geobatch.jraph`` build on it, it imports neither."""

from __future__ import annotations

from typing import Optional

import numpy as np


#: how a GraphsTuple field holds its features: no features, one array, or a dict of arrays
_NONE, _ARRAY, _DICT = "none", "array", "dict"


def graphs_tuple(batch, layout: Optional[tuple] = None):
    """A ``jraph.GraphsTuple`` whose arrays are the batch's NumPy arrays: ``nodes`` and ``edges``
    are dicts of the store's named arrays (``None`` when empty), ``globals`` the graph arrays;
    a store made by ``GraphStore.from_jraph`` gives back the fields as the tuples had them (one
    array or a dict). jraph's padding helpers (``get_graph_padding_mask`` ...) apply as to its
    own padded graphs. The arrays stay valid while the tuple (or any of them) is alive
    (``Collator``)."""
    import jraph

    nodes, edges, globals_ = dict(batch.nodes), dict(batch.edges), dict(batch.graphs)
    if layout is None:
        nodes, edges, globals_ = nodes or None, edges or None, globals_ or None
    else:
        nodes, edges, globals_ = (
            _field(d, kind, name)
            for d, kind, name in zip((nodes, edges, globals_), layout, ("nodes", "edges", "globals"))
        )
    return jraph.GraphsTuple(
        nodes=nodes,
        edges=edges,
        globals=globals_,
        senders=batch.senders,
        receivers=batch.receivers,
        n_node=batch.n_node,
        n_edge=batch.n_edge,
    )


def _field(arrays: dict, kind: str, name: str):
    if kind == _NONE:
        return None
    if kind == _ARRAY:
        return arrays[name]
    return {k[len(name) + 1 :]: v for k, v in arrays.items()}


def store_arrays(graphs):
    """The arrays of a ``GraphStore`` of one ``jraph.GraphsTuple`` (one graph or many, as
    ``jraph.batch`` makes them) or a sequence of them (``GraphStore.from_jraph``): ``(n_node,
    arrays, layout)``, the node, edge and graph arrays, ``edge_index`` (local to each graph) and
    ``n_edge`` in ``arrays``, and how the fields were held in ``layout`` (kept as the store's
    ``jraph_layout``, so that batches go back to tuples of the same form).

    Each tuple costs a few list appends; the arrays are joined and checked once, at the end:
    a tuple whose arrays do not have the rows its counts say (``n_node`` summing to more or
    fewer node rows, ``n_edge`` to more or fewer edges, senders or receivers, a ``globals`` row
    per graph) is refused with a ``ValueError`` naming its position and the counts."""
    tuples = [graphs] if hasattr(graphs, "n_node") else list(graphs)
    if not tuples:
        raise ValueError("from_jraph: no GraphsTuple given")
    first = tuples[0]
    layout = tuple(_kind(getattr(first, f)) for f in _FIELDS)
    keys = [_keys(getattr(first, f)) for f in _FIELDS]
    columns = {f: [] for f in ("n_node", "n_edge", "senders", "receivers")}
    features = [{k: [] for k in ks} for ks in keys]
    fields = list(zip(_FIELDS, layout, keys, features))
    n_nodes, n_edges, sends, recvs = (columns[f] for f in ("n_node", "n_edge", "senders", "receivers"))
    for i, t in enumerate(tuples):
        for f, kind, ks, into in fields:
            value = getattr(t, f)
            if kind == _DICT and type(value) is dict and tuple(value) == ks:
                for k, v in value.items():
                    into[k].append(v)
            elif kind == _ARRAY and value is not None and not isinstance(value, dict):
                into[None].append(value)
            elif kind != _NONE or value is not None:
                raise ValueError(
                    f"GraphsTuple {i} holds {f} as {_kind(value)} {sorted(map(str, _keys(value)))}, "
                    f"the first as {kind} {sorted(map(str, ks))}: every tuple must have the same fields"
                )
        n_nodes.append(t.n_node)
        n_edges.append(t.n_edge)
        sends.append(t.senders)
        recvs.append(t.receivers)
    n_node, n_edge, senders, receivers = (
        _join(columns[f], f) for f in ("n_node", "n_edge", "senders", "receivers")
    )
    graphs_of = np.fromiter((np.size(n) for n in n_nodes), dtype=np.int64, count=len(tuples))
    edges_of = np.fromiter((np.size(s) for s in sends), dtype=np.int64, count=len(tuples))
    _check_tuples(tuples, n_nodes, n_edges, n_node, n_edge, graphs_of, features, keys)
    if len(senders) != len(receivers) or len(senders) != int(n_edge.sum()):
        raise ValueError(
            f"{len(senders)} senders and {len(receivers)} receivers, n_edge sums to "
            f"{int(n_edge.sum())}"
        )
    edge_sums = np.add.reduceat(n_edge, np.cumsum(graphs_of) - graphs_of) if len(n_edge) else n_edge
    bad = np.flatnonzero((graphs_of > 0) & (edge_sums != edges_of))
    if len(bad):
        i = int(bad[0])
        raise ValueError(
            f"GraphsTuple {i}: {edges_of[i]} senders, n_edge sums to {edge_sums[i]}"
        )
    # each tuple's global node indices -> local to each edge's graph: subtract the graph's first
    # node within its tuple (tuples hold their nodes from 0)
    graph_start = np.concatenate([[0], np.cumsum(n_node)])[:-1]
    tuple_start = np.repeat(np.concatenate([[0], np.cumsum(graphs_of)])[:-1], graphs_of)
    base = np.repeat(graph_start - graph_start[tuple_start], n_edge)
    edge_index = np.stack([senders - base, receivers - base])

    def cat(which: int) -> dict:
        name = _FIELDS[which]
        return {
            name if k is None else f"{name}.{k}": np.concatenate([np.asarray(v) for v in parts])
            for k, parts in features[which].items()
        }

    arrays = dict(nodes=cat(0), edges=cat(1), graphs=cat(2), edge_index=edge_index, n_edge=n_edge)
    return n_node, arrays, layout


_FIELDS = ("nodes", "edges", "globals")


def _check_tuples(tuples, n_nodes, n_edges, n_node, n_edge, graphs_of, features, keys) -> None:
    """``from_jraph``'s checks of each tuple (a few vectorised comparisons; the message from
    ``_check_tuple``): its n_node and n_edge of as many graphs, no negative count, and its
    arrays of the rows its counts say."""
    count = len(tuples)
    edge_graphs = np.fromiter((np.size(e) for e in n_edges), dtype=np.int64, count=count)
    bad = np.flatnonzero(edge_graphs != graphs_of)
    if len(bad):
        i = int(bad[0])
        raise ValueError(
            f"GraphsTuple {i}: n_node has {int(graphs_of[i])} entries (graphs), n_edge "
            f"{int(edge_graphs[i])}"
        )
    ends = np.cumsum(graphs_of)
    starts = ends - graphs_of
    for name, counts in (("n_node", n_node), ("n_edge", n_edge)):
        if (counts < 0).any():
            k = int(np.flatnonzero(counts < 0)[0])
            i = int(np.searchsorted(ends, k, side="right"))
            raise ValueError(
                f"GraphsTuple {i}: {name}[{k - int(starts[i])}] = {int(counts[k])}: counts "
                "cannot be negative"
            )
    node_sums, edge_sums = (
        np.concatenate([[0], np.cumsum(c)])[ends] - np.concatenate([[0], np.cumsum(c)])[starts]
        for c in (n_node, n_edge)
    )
    wants = (node_sums, edge_sums, graphs_of)
    columns = [wants[which] for which in range(3) for _ in keys[which]]
    parts = [features[which][k] for which in range(3) for k in keys[which]]
    parts += [[t.senders for t in tuples], [t.receivers for t in tuples]]
    columns += [edge_sums, edge_sums]
    for want, values in zip(columns, parts):
        try:
            got = np.fromiter(map(len, values), dtype=np.int64, count=count)
        except TypeError:  # a scalar among them
            got = np.fromiter((-1 if r is None else r for r in map(_rows, values)),
                              dtype=np.int64, count=count)
        bad = np.flatnonzero(got != want)
        if len(bad):
            i = int(bad[0])
            _check_tuple(i, tuples[i], int(node_sums[i]), int(edge_sums[i]), int(graphs_of[i]))


def _join(parts: list, name: str) -> np.ndarray:
    """One int64 vector of the tuples' ``name`` (each a vector, as jraph makes them)."""
    try:
        out = np.concatenate(parts)
    except ValueError:  # 0-d or 2-d pieces: flattened one by one
        out = np.concatenate([np.reshape(p, -1) for p in parts])
    if out.ndim != 1 or (out.size and out.dtype.kind not in "iu"):
        raise ValueError(f"GraphsTuple {name}: expected integer vectors, got {out.dtype} of shape {out.shape}")
    return out.astype(np.int64, copy=False)


def _kind(value) -> str:
    if value is None:
        return _NONE
    return _DICT if isinstance(value, dict) else _ARRAY


def _keys(value) -> tuple:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, dict) else (None,)


def _rows(value):
    """The rows (first dimension) of an array-like, or ``None`` for a scalar."""
    shape = getattr(value, "shape", None)
    if shape is None:
        shape = np.shape(value)
    return int(shape[0]) if len(shape) else None


def _check_tuple(position: int, t, n_node: int, n_edge: int, graphs: int) -> None:
    """Raises ``ValueError`` naming GraphsTuple ``position`` when its arrays do not have the rows
    its counts say: ``n_node`` (summed) node rows, ``n_edge`` (summed) edge rows, senders and
    receivers, and one ``globals`` row per graph (entry of ``n_node``)."""
    for f, want, what in (
        ("nodes", n_node, f"its n_node sums to {n_node}"),
        ("edges", n_edge, f"its n_edge sums to {n_edge}"),
        ("globals", graphs, f"it holds {graphs} graph{'s' if graphs != 1 else ''} (entries of n_node)"),
    ):
        value = getattr(t, f)
        if value is None:
            continue
        parts = value.items() if isinstance(value, dict) else ((None, value),)
        for k, v in parts:
            got = _rows(v)
            if got != want:
                name = f if k is None else f"{f}[{k!r}]"
                held = "a scalar" if got is None else f"{got} rows"
                raise ValueError(f"GraphsTuple {position}: {name} has {held}, {what}")
    for f in ("senders", "receivers"):
        got = _rows(getattr(t, f))
        if got != n_edge:
            held = "a scalar" if got is None else f"{got} entries"
            raise ValueError(f"GraphsTuple {position}: {f} has {held}, its n_edge sums to {n_edge}")
