"""jraph interop (jraph is imported on use): a collated batch as a ``jraph.GraphsTuple``,
``GraphsTuple`` data as a ``GraphStore``, and ``dynamically_batch``, a drop-in for
``jraph.dynamically_batch`` on any of geobatch's batchers."""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Optional

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


def from_jraph(graphs):
    """A ``GraphStore`` of one ``jraph.GraphsTuple`` (one graph or many, as ``jraph.batch``
    makes them) or a sequence of them: its ``nodes``/``edges``/``globals`` (an array or a dict
    of arrays each) become the store's node, edge and graph arrays, ``senders``/``receivers``
    its edges (made local to each graph). ``store.jraph_layout`` keeps how the fields were held,
    so that batches go back to tuples of the same form (``dynamically_batch``).

    Each tuple costs a few list appends; the arrays are joined and checked once, at the end."""
    from .store import GraphStore

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

    store = GraphStore(
        n_node, nodes=cat(0), edges=cat(1), graphs=cat(2), edge_index=edge_index, n_edge=n_edge,
        copy=False,
    )
    store.jraph_layout = layout
    return store


_FIELDS = ("nodes", "edges", "globals")


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


def dynamically_batch(
    graphs_tuple_iterator: Iterable[Any],
    n_node: int,
    n_edge: int,
    n_graph: int,
    *,
    kind: str = "dynamic",
    **options,
) -> Iterator[Any]:
    """A drop-in for ``jraph.dynamically_batch``: the graphs of the tuples, in their order,
    batched to at most ``n_node - 1`` nodes, ``n_edge`` edges and ``n_graph - 1`` graphs and
    padded to exactly (``n_node``, ``n_edge``, ``n_graph``), jraph's layout. With
    ``kind="dynamic"`` the batches are jraph's own (the same greedy rule); ``kind="pack"``
    fills the same shape more fully (first fit over a look-ahead window, ``window=...``).

    Unlike jraph's it reads every tuple first (a plan is made over the whole sequence) and
    collates with geobatch's native collator; the features come back as the tuples held them."""
    from .planner import Planner

    if kind not in ("dynamic", "pack"):
        raise ValueError(
            f"kind = {kind!r}: dynamically_batch pads every batch to (n_node, n_edge, n_graph), "
            "which the budgeted batchers do: 'dynamic' or 'pack'"
        )
    tuples = list(graphs_tuple_iterator)
    if not tuples:
        return  # as jraph's: no graphs, no batches
    store = from_jraph(tuples)
    budget = {"nodes": int(n_node), "edges": int(n_edge), "graphs": int(n_graph)}
    planner = Planner(kind, max(int(n_graph), 2), budget=budget, **options)
    plan = planner.plan_epoch(store.sizes, seed=0, shuffle=False)
    collator = store.collator((budget["nodes"], budget["edges"], budget["graphs"]))
    for b in range(len(plan)):
        yield graphs_tuple(collator.collate_plan(plan, b), store.jraph_layout)
