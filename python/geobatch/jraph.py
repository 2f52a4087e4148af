"""jraph interop (jraph is imported on use): a collated batch as a ``jraph.GraphsTuple``,
``GraphsTuple`` data as a ``GraphStore``, and ``dynamically_batch``, a drop-in for
``jraph.dynamically_batch`` on any of geobatch's batchers."""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Optional

import numpy as np

from . import _native

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

    Each tuple costs a few list appends; the arrays are joined and checked once, at the end:
    a tuple whose arrays do not have the rows its counts say (``n_node`` summing to more or
    fewer node rows, ``n_edge`` to more or fewer edges, senders or receivers, a ``globals`` row
    per graph) is refused with a ``ValueError`` naming its position and the counts."""
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

    store = GraphStore(
        n_node, nodes=cat(0), edges=cat(1), graphs=cat(2), edge_index=edge_index, n_edge=n_edge,
        copy=False,
    )
    store.jraph_layout = layout
    return store


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
    n_node = _counts([t.n_node for t in ts], rg, pg, pn - rn)
    n_edge = _counts([t.n_edge for t in ts], rg, pg, pe - re)
    return make(nodes=fields["nodes"], edges=fields["edges"], globals=fields["globals"],
                senders=edge_index[0], receivers=edge_index[1], n_node=n_node, n_edge=n_edge)


def _joined(parts, real: int, padded: int) -> np.ndarray:
    """The parts one after the other, then zero rows up to ``padded`` (jraph's dtype: the parts'
    common one)."""
    first = parts[0]
    out = np.empty((padded,) + np.shape(first)[1:], dtype=np.result_type(first))
    try:
        np.concatenate(parts, out=out[:real], casting="no")
    except TypeError:  # parts of other dtypes: the dtype jraph's concatenation gives
        joined = np.concatenate(parts)
        out = np.empty((padded,) + joined.shape[1:], dtype=joined.dtype)
        out[:real] = joined
    out[real:] = 0
    return out


def _counts(parts, real: int, padded: int, pad: int) -> np.ndarray:
    """n_node or n_edge: the tuples' counts, the padding graph's, zeros (jraph's dtype)."""
    first = parts[0]
    out = np.empty(padded, dtype=np.result_type(first, np.int32))
    try:
        np.concatenate(parts, out=out[:real], casting="same_kind")
    except ValueError:
        out[:real] = np.concatenate([np.reshape(p, -1) for p in parts])
    out[real] = pad
    out[real + 1:] = 0
    return out


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
