"""jraph interop (jraph is imported on use): a collated batch as a ``jraph.GraphsTuple``,
``GraphsTuple`` data as a ``GraphStore``, and ``dynamically_batch``, a drop-in for
``jraph.dynamically_batch`` on any of geobatch's batchers."""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Optional

import numpy as np

from . import _native
from ._jraph_tuples import _ARRAY, _FIELDS, _NONE, _check_tuple, _keys, _kind
from ._jraph_tuples import graphs_tuple  # noqa: F401  (geobatch.jraph.graphs_tuple)
from .store import GraphStore


def from_jraph(graphs) -> GraphStore:
    """A ``GraphStore`` of one ``jraph.GraphsTuple`` (one graph or many, as ``jraph.batch``
    makes them) or a sequence of them: its ``nodes``/``edges``/``globals`` (an array or a dict
    of arrays each) become the store's node, edge and graph arrays, ``senders``/``receivers``
    its edges (made local to each graph). ``store.jraph_layout`` keeps how the fields were held,
    so that batches go back to tuples of the same form (``dynamically_batch``). Tuples whose
    arrays do not have the rows their counts say are refused naming their position
    (``GraphStore.from_jraph``, the same)."""
    return GraphStore.from_jraph(graphs)


def dynamically_batch(
    graphs_tuple_iterator: Iterable[Any],
    n_node: int,
    n_edge: int,
    n_graph: int,
    *,
    kind: str = "dynamic",
    **options,
) -> Iterator[Any]:
    """A drop-in for ``jraph.dynamically_batch``: the tuples, in their order, batched to at
    most ``n_node - 1`` nodes, ``n_edge`` edges and ``n_graph - 1`` graphs and padded to exactly
    (``n_node``, ``n_edge``, ``n_graph``) in jraph's layout. With ``kind="dynamic"`` the batches
    are jraph's own, array for array and dtype for dtype (the same greedy rule, a tuple of many
    graphs kept whole, the same ``RuntimeError`` after the batch so far for a tuple over the
    budget); ``kind="pack"`` fills the same shape more fully (first fit over a look-ahead window
    of single-graph tuples, ``window=...``).

    Like jraph's it reads the tuples as it goes (a few thousand at most ahead of the batch it
    yields), so the first batch comes at once and an endless iterator works; each batch is
    joined with one NumPy copy per array and one native pass over its edges (no
    ``jraph.batch_np`` and ``pad_with_graphs``). Every yielded tuple's arrays are its own. A
    batch whose arrays do not join to the rows their counts say is refused with a
    ``ValueError`` naming the first tuple whose ``n_node`` (or ``n_edge``, or graph count) is
    not its arrays' rows."""
    from .planner import _count

    if kind not in ("dynamic", "pack"):
        raise ValueError(
            f"kind = {kind!r}: dynamically_batch pads every batch to (n_node, n_edge, n_graph), "
            "which the budgeted batchers do: 'dynamic' or 'pack'"
        )
    budget = (_count(n_node, "n_node"), _count(n_edge, "n_edge"), _count(n_graph, "n_graph"))
    if budget[2] < 2:
        raise ValueError(
            "The number of graphs in a batch size must be greater or equal to `2` for padding "
            f"with graphs, got {budget[2]}."
        )
    return _batches(iter(graphs_tuple_iterator), budget, kind, options)


#: tuples read ahead at first, and at most (the read-ahead doubles from the first to the most)
_FIRST_CHUNK, _MOST_CHUNK = 64, 4096


def _batches(it, budget, kind, options):
    import itertools

    import jraph

    make = jraph.GraphsTuple
    chunk = _FIRST_CHUNK
    carry: list = []
    shape = None
    planner = None
    read = 0  # tuples read so far: tuples[0] is tuple number read - len(carry) of the stream
    while True:
        new = list(itertools.islice(it, chunk))
        base = read - len(carry)
        read += len(new)
        chunk = min(2 * chunk, _MOST_CHUNK)
        tuples = carry + new if carry else new
        if not tuples:
            return
        if shape is None:
            shape = _Shape(tuples[0])
        sizes = _tuple_sizes(tuples)
        if not new:  # the iterator is done: the open batch is the last
            yield _collate(make, shape, base, tuples, sizes, range(len(tuples)), budget)
            return
        if kind == "dynamic":
            starts, over = _native.greedy_batches(*sizes, budget)
            bounds = list(zip(starts, starts[1:] + [over if over is not None else len(tuples)]))
            batches = [range(a, b) for a, b in bounds]
        else:
            # a chunk of k tuples fills at most k graphs of a batch: its planner's graph budget
            # is at most k + 1 (a planner over 64 tuples refused n_graph >= 66); the budget is
            # given, so batch_size (2) sizes nothing
            graphs = min(budget[2], len(tuples) + 1)
            if planner is None or planner[0] != graphs:
                from .planner import Planner

                made = Planner("pack", 2, budget={"nodes": budget[0], "edges": budget[1], "graphs": graphs},
                               **options)
                made.warn_budget = False
                planner = (graphs, made)
            batches, over = _packed(planner[1], sizes, budget)
        if over is not None:
            for rows in batches:
                yield _collate(make, shape, base, tuples, sizes, rows, budget)
            n, e, g = (int(x[over]) for x in sizes)  # tuple number base + over
            raise RuntimeError(
                "Found graph bigger than batch size. Valid Batch Size: "
                f"{{'n_node': {budget[0] - 1}, 'n_edge': {budget[1]}, 'n_graph': {budget[2] - 1}}}, "
                f"Graph Size: {{'n_node': {n}, 'n_edge': {e}, 'n_graph': {g}}}"
            )
        # the last batch stays open: its tuples start the next chunk
        for rows in batches[:-1]:
            yield _collate(make, shape, base, tuples, sizes, rows, budget)
        carry = [tuples[i] for i in batches[-1]]


def _packed(planner, sizes, budget):
    """Batches (tuple positions) of ``pack`` over single-graph tuples, up to the first tuple over
    the budget (returned second, or ``None``)."""
    nodes, edges, graphs = sizes
    if (graphs != 1).any():
        k = int(np.flatnonzero(graphs != 1)[0])
        raise ValueError(
            f"GraphsTuple {k} holds {int(graphs[k])} graphs: kind='pack' batches single-graph "
            "tuples (jraph.unbatch them), kind='dynamic' keeps tuples whole as jraph does"
        )
    big = np.flatnonzero((nodes > budget[0] - 1) | (edges > budget[1]))
    over = int(big[0]) if len(big) else None
    upto = len(nodes) if over is None else over
    if upto == 0:
        return [], over
    plan = planner.plan_epoch(np.stack([nodes[:upto], edges[:upto]], axis=1), seed=0, shuffle=False)
    return [plan[b] for b in range(len(plan))], over


def _tuple_sizes(tuples):
    """(nodes, edges, graphs) per tuple, int64 arrays."""
    n_nodes = [t.n_node for t in tuples]
    n_edges = [t.n_edge for t in tuples]
    try:
        graphs = np.fromiter(map(len, n_nodes), dtype=np.int64, count=len(tuples))
        flat_n, flat_e = np.concatenate(n_nodes), np.concatenate(n_edges)
    except (TypeError, ValueError):  # 0-d or 2-d counts: flattened one by one
        n_nodes = [np.reshape(x, -1) for x in n_nodes]
        n_edges = [np.reshape(x, -1) for x in n_edges]
        graphs = np.fromiter(map(len, n_nodes), dtype=np.int64, count=len(tuples))
        flat_n, flat_e = np.concatenate(n_nodes), np.concatenate(n_edges)
    if len(flat_e) != len(flat_n):
        raise ValueError(f"GraphsTuples hold {len(flat_n)} n_node entries and {len(flat_e)} n_edge ones")
    for name, a in (("n_node", flat_n), ("n_edge", flat_e)):
        if a.size and a.dtype.kind not in "iu":
            raise ValueError(f"GraphsTuple {name}: expected integer vectors, got {a.dtype}")
    if len(flat_n) == len(tuples) and (graphs == 1).all():
        return flat_n.astype(np.int64, copy=False), flat_e.astype(np.int64, copy=False), graphs
    starts = np.concatenate([[0], np.cumsum(graphs)[:-1]])
    nodes = np.add.reduceat(np.append(flat_n.astype(np.int64), 0), starts) * (graphs > 0)
    edges = np.add.reduceat(np.append(flat_e.astype(np.int64), 0), starts) * (graphs > 0)
    return nodes, edges, graphs


class _Shape:
    """How the tuples hold their features (from the first): per field, none, one array, or a
    dict of arrays, with the dict's keys."""

    __slots__ = ("fields",)

    def __init__(self, first):
        self.fields = tuple((f, _kind(getattr(first, f)), _keys(getattr(first, f))) for f in _FIELDS)


def _collate(make, shape, base, tuples, sizes, rows, budget):
    """One padded GraphsTuple of ``tuples[rows]``, as jraph's ``pad_with_graphs(batch_np(...))``."""
    pn, pe, pg = budget
    ts = [tuples[i] for i in rows]
    idx = np.asarray(rows, dtype=np.int64) if not isinstance(rows, range) else slice(rows.start, rows.stop)
    nodes, edges, graphs = (a[idx] for a in sizes)
    rn, re, rg = int(nodes.sum()), int(edges.sum()), int(graphs.sum())
    counts = {"nodes": (rn, pn), "edges": (re, pe), "globals": (rg, pg)}
    fields = {}
    for f, kind, keys in shape.fields:
        real, padded = counts[f]
        values = [getattr(t, f) for t in ts]
        if kind == _NONE:
            if any(v is not None for v in values):
                _mismatch(ts, f, kind, keys, rows, base)
            fields[f] = None
        elif kind == _ARRAY:
            try:
                fields[f] = _joined(values, real, padded)
            except (TypeError, AttributeError, ValueError):
                _mismatch(ts, f, kind, keys, rows, base)
                _check_rows(ts, rows, base, nodes, edges, graphs)
                raise
        else:
            try:
                fields[f] = {k: _joined([v[k] for v in values], real, padded) for k in keys}
            except (TypeError, KeyError, ValueError, IndexError):
                _mismatch(ts, f, kind, keys, rows, base)
                _check_rows(ts, rows, base, nodes, edges, graphs)
                raise
            if any(len(v) != len(keys) for v in values):
                _mismatch(ts, f, kind, keys, rows, base)
    edge_index = np.empty((2, pe), dtype=np.int64)
    try:
        np.concatenate([t.senders for t in ts], out=edge_index[0, :re], casting="same_kind")
        np.concatenate([t.receivers for t in ts], out=edge_index[1, :re], casting="same_kind")
    except ValueError:
        _check_rows(ts, rows, base, nodes, edges, graphs)
        raise ValueError(
            f"GraphsTuples {_positions(rows, base)}: their senders and receivers are not the "
            f"{re} edges their n_edge counts"
        ) from None
    try:
        _native.offset_edges(edge_index, edges, nodes)
    except ValueError as e:
        raise ValueError(f"GraphsTuples {_positions(rows, base)}: {e}") from None
    n_node = _counts([t.n_node for t in ts], rg, pg)
    n_edge = _counts([t.n_edge for t in ts], rg, pg)
    # the padding, as the collator writes it (one implementation: geobatch_gather::pad)
    columns = {f: [fields[f]] if kind == _ARRAY else list((fields[f] or {}).values())
               for f, kind, _ in shape.fields}
    _native.pad_batch((rn, re, rg), (pn, pe, pg), *(_as_bytes(columns[f]) for f in _FIELDS),
                      edge_index, n_node, n_edge)
    return make(nodes=fields["nodes"], edges=fields["edges"], globals=fields["globals"],
                senders=edge_index[0], receivers=edge_index[1], n_node=n_node, n_edge=n_edge)


def _as_bytes(arrays):
    """Each array (its own, C-contiguous) as its rows of bytes, for ``_native.pad_batch``."""
    return [a.reshape(len(a), int(np.prod(a.shape[1:]))).view(np.uint8) for a in arrays]


def _joined(parts, real: int, padded: int) -> np.ndarray:
    """The parts one after the other in an array of ``padded`` rows (jraph's dtype: the parts'
    common one); the rows after them are the padding's."""
    first = parts[0]
    out = np.empty((padded,) + np.shape(first)[1:], dtype=np.result_type(first))
    try:
        np.concatenate(parts, out=out[:real], casting="no")
    except TypeError:  # parts of other dtypes: the dtype jraph's concatenation gives
        joined = np.concatenate(parts)
        out = np.empty((padded,) + joined.shape[1:], dtype=joined.dtype)
        out[:real] = joined
    return out


def _counts(parts, real: int, padded: int) -> np.ndarray:
    """n_node or n_edge: the tuples' counts in a vector of ``padded`` (jraph's dtype); the
    padding graphs' are the padding's."""
    first = parts[0]
    out = np.empty(padded, dtype=np.result_type(first, np.int32))
    try:
        np.concatenate(parts, out=out[:real], casting="same_kind")
    except ValueError:
        out[:real] = np.concatenate([np.reshape(p, -1) for p in parts])
    return out


def _check_rows(ts, rows, base: int, nodes, edges, graphs) -> None:
    """``_check_tuple`` for each of a batch's tuples (``rows``: their positions after ``base``;
    ``nodes``, ``edges``, ``graphs``: their counts)."""
    for i, t, n, e, g in zip(rows, ts, nodes, edges, graphs):
        _check_tuple(base + int(i), t, int(n), int(e), int(g))


def _positions(rows, base: int) -> str:
    rows = [base + int(i) for i in rows]
    return f"{rows[0]}..{rows[-1]}" if rows else "(none)"


def _mismatch(ts, f, kind, keys, rows, base):
    for i, t in zip(rows, ts):
        value = getattr(t, f)
        if _kind(value) != kind or _keys(value) != keys:
            raise ValueError(
                f"GraphsTuple {base + i} holds {f} as {_kind(value)} {sorted(map(str, _keys(value)))}, "
                f"the first as {kind} {sorted(map(str, keys))}: every tuple must have the same fields"
            )
