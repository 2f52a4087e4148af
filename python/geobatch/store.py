"""Stores of concatenated per-graph arrays, and their collation into reusable padded arrays.

Layout of a collated batch (jraph's ``pad_with_graphs``, as geobatch's own batches): real graphs
first, concatenated; the first padding graph owns every padding node and every padding edge;
padding edges point from and to the first padding node; padding rows are zero; further padding
graphs are empty. ``graph_mask`` is true for real graphs.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from . import _native
from ._jraph_tuples import graphs_tuple, store_arrays
from ._pyg_arrays import check_potential_data, tensors
from .planner import Plan, _count

# ``GraphStore.from_pyg``, ``from_jraph``, ``PaddedBatch.to_jraph`` and ``to_torch`` are the
# conveniences users reach for on the store; what they need lives in leaves that import neither
# the store nor ``geobatch.jraph``/``geobatch.torch`` (which build on the store), and that import
# JAX or torch only inside the call.


def _array(a: Any, name: str, rows: Optional[int] = None, copy: bool = True) -> np.ndarray:
    """``a`` as a C-contiguous array the store owns: a read-only copy (``copy``), so that the
    caller changing its array afterwards changes nothing collated from the store."""
    a = np.array(a, order="C", copy=True) if copy else np.ascontiguousarray(a)
    if a.ndim == 0:
        raise ValueError(f"{name} must have one row per item, got a scalar")
    if a.dtype.hasobject:
        raise TypeError(f"{name} must be a numeric array, got dtype {a.dtype}")
    if rows is not None and len(a) != rows:
        raise ValueError(f"{name} has {len(a)} rows, expected {rows}")
    if copy:
        a.flags.writeable = False
    return a


def _counts(a: Any, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 1 or a.dtype.kind not in "iu":
        raise TypeError(f"{name} must be a 1-D integer array, got shape {a.shape} dtype {a.dtype}")
    if a.dtype.kind == "i" and (a < 0).any():
        i = int(np.argwhere(a < 0)[0, 0])
        raise ValueError(f"{name}[{i}] = {int(a[i])}: counts cannot be negative")
    return a.astype(np.int64)


#: The largest atomic number (oganesson)
MAX_ATOMIC_NUMBER = 118


def _check_atomic_numbers(z: np.ndarray, offsets: np.ndarray) -> None:
    """Refuses atomic numbers that are not whole numbers of 1..118, naming the first bad row
    (and its graph and atom)."""
    if z.dtype.kind not in "iuf":
        raise TypeError(
            f"atomic_numbers must be integers 1..{MAX_ATOMIC_NUMBER}, got dtype {z.dtype}"
        )
    if z.size == 0:
        return
    flat = z.reshape(len(z), -1)
    with np.errstate(invalid="ignore"):
        bad = ~((flat >= 1) & (flat <= MAX_ATOMIC_NUMBER))
        if z.dtype.kind == "f":
            bad |= flat != np.round(flat)
    rows = bad.any(axis=1)
    if rows.any():
        i = int(np.flatnonzero(rows)[0])
        g = int(np.searchsorted(offsets, i, side="right") - 1)
        value = z[i].item() if z.ndim == 1 else z[i].tolist()
        raise ValueError(
            f"atomic_numbers[{i}] = {value!r} (graph {g}, atom {i - int(offsets[g])}): atomic "
            f"numbers are whole numbers 1..{MAX_ATOMIC_NUMBER}"
        )


def _check_rule(rule: dict) -> None:
    """A cutoff's ``radius`` (a positive finite number of Angstrom) and a kNN rule's ``k`` (a
    positive integer), refused by name and value before the native rule reads them; other
    keys and values are the native reader's to check."""
    kind = rule.get("kind")
    if kind == "cutoff" and "radius" in rule:
        radius = rule["radius"]
        if isinstance(radius, bool) or not isinstance(radius, numbers.Real):
            raise TypeError(
                f"graph.radius = {radius!r}: a cutoff radius must be a positive, finite number of "
                "Angstrom, e.g. 5.0"
            )
        value = float(radius)
        if not (np.isfinite(value) and value > 0):
            raise ValueError(
                f"graph.radius = {value}: a cutoff radius must be a positive, finite number of "
                "Angstrom, e.g. 5.0"
            )
    if kind == "knn" and "k" in rule:
        k = rule["k"]
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise TypeError(f"graph.k = {k!r}: k (neighbours per atom) must be a positive integer, e.g. 12")
        if not 1 <= int(k) <= np.iinfo(np.int64).max:
            raise ValueError(
                f"graph.k = {int(k)}: k (neighbours per atom) must be a positive integer (of 64 "
                "bits), e.g. 12"
            )
        rule["k"] = int(k)


def _offsets(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def _bytes(a: np.ndarray) -> np.ndarray:
    """A 2-D uint8 view of a C-contiguous array: one row of bytes per item."""
    return a.view(np.uint8).reshape(len(a), a.itemsize * int(np.prod(a.shape[1:], dtype=np.int64)))


#: node arrays of a store that must be finite (what a model differentiates, what its loss fits),
#: by name (PyG's and OCP/fairchem's), and what each row is
_FINITE_ROWS = {"pos": "position", "positions": "position", "forces": "force"}


def check_finite_atoms(store) -> None:
    """Raises ``ValueError`` naming the structure and atom when a store's positions or forces
    (``pos``, ``positions``, ``forces``) hold a value that is not finite: the rule every reader of
    ``geobatch run`` applies (a NaN reaching a batch makes the whole loss NaN). Every
    ``GraphStore`` is checked when made."""
    for key, what in _FINITE_ROWS.items():
        a = store.nodes.get(key)
        if a is None or a.dtype.kind != "f" or a.ndim != 2 or a.shape[1] != 3 or np.isfinite(a).all():
            continue
        _native.check_finite_rows(what, np.ascontiguousarray(a, dtype=np.float64), store.node_offsets)


class GraphStore:
    """Graphs as concatenated arrays: ``n_node`` nodes per graph; ``nodes``, ``edges``,
    ``graphs``: named arrays with one row per node, edge or graph (any dtype, any trailing
    shape); ``edge_index`` (2 x edges: senders, receivers), local to each graph, with ``n_edge``
    edges per graph; or ``full=True``: every ordered pair of distinct nodes of a graph is an
    edge, made at collation (no edge is stored).

    The store owns what it holds: every array is copied once and made read-only (``copy=False``
    keeps the caller's arrays as they are, which must then not change while the store is used).

    ``GraphStore.from_geometry`` builds the edges of atoms by geobatch's graph rules;
    ``GraphStore.from_pyg`` and ``GraphStore.from_jraph`` take PyG ``Data`` objects and jraph
    ``GraphsTuple``; ``load_dataset`` gives geobatch's own datasets as stores.
    """

    #: Whether the arrays are mapped from a disk-backed store's files (``geobatch.disk``): its
    #: collators then read each batch's rows ahead of the copy.
    _mapped = False

    def __init__(
        self,
        n_node,
        *,
        nodes: Optional[Mapping[str, Any]] = None,
        edges: Optional[Mapping[str, Any]] = None,
        graphs: Optional[Mapping[str, Any]] = None,
        edge_index=None,
        n_edge=None,
        full: bool = False,
        copy: bool = True,
    ):
        self.n_node = _counts(n_node, "n_node")
        self.node_offsets = _offsets(self.n_node)
        n = len(self.n_node)
        self.full = bool(full)
        if self.full:
            if edge_index is not None or n_edge is not None or edges:
                raise ValueError("full=True stores no edges: leave out edge_index, n_edge and edges")
            self.n_edge = self.n_node * np.maximum(self.n_node - 1, 0)
            self.edge_offsets = None
            self.senders = self.receivers = None
        else:
            if edge_index is None or n_edge is None:
                raise ValueError("give edge_index and n_edge (or full=True)")
            self.n_edge = _counts(n_edge, "n_edge")
            if len(self.n_edge) != n:
                raise ValueError(f"n_edge has {len(self.n_edge)} graphs, n_node has {n}")
            self.edge_offsets = _offsets(self.n_edge)
            ei = np.asarray(edge_index)
            if ei.ndim != 2 or ei.shape[0] != 2 or ei.dtype.kind not in "iu":
                raise ValueError(f"edge_index must be a (2, edges) integer array, got shape {ei.shape} dtype {ei.dtype}")
            if ei.shape[1] != int(self.edge_offsets[-1]):
                raise ValueError(
                    f"edge_index has {ei.shape[1]} edges, n_edge sums to {int(self.edge_offsets[-1])}"
                )
            per_edge = np.repeat(self.n_node, self.n_edge)
            bad = (ei < 0) | (ei >= per_edge)
            if bad.any():
                k = int(np.argwhere(bad.any(axis=0))[0, 0])
                g = int(np.searchsorted(self.edge_offsets, k, side="right") - 1)
                raise ValueError(
                    f"edge_index[:, {k}] = {ei[:, k].tolist()} (graph {g}) is not a local index "
                    f"of the graph's {int(self.n_node[g])} nodes"
                )
            self.senders = np.array(ei[0], dtype=np.int32)
            self.receivers = np.array(ei[1], dtype=np.int32)
            self.senders.flags.writeable = self.receivers.flags.writeable = False
        self._take_arrays(nodes, edges, graphs, bool(copy))

    @classmethod
    def _of_native_edges(cls, counts, offsets, native, *, nodes, graphs):
        """A store of the edges a native graph rule made (``_native.graph_edges``'s edge offsets,
        senders, receivers and vectors): local, grouped by graph and freshly allocated by
        construction, so neither checked nor copied again (on a 1,000-atom cell the check and
        the copies took a sixth of the neighbour list's time); ``nodes`` and ``graphs`` are
        taken as ``__init__`` takes them."""
        edge_offsets, senders, receivers, vectors = native
        for a in (senders, receivers, vectors):
            a.flags.writeable = False
        store = cls.__new__(cls)
        store.n_node, store.node_offsets, store.full = counts, offsets, False
        store.edge_offsets, store.n_edge = edge_offsets, np.diff(edge_offsets)
        store.senders, store.receivers = senders, receivers
        store._take_arrays(nodes, None, graphs, True)
        store.edges = {"edge_vectors": vectors}
        return store

    @classmethod
    def _of_mapped(cls, n_node, offsets, *, nodes, graphs, edges=None, n_edge=None, senders=None, receivers=None):
        """A store of arrays mapped from a disk-backed store's files (``geobatch.disk``), taken
        as they are: read-only and checked when the store was written (a check here would read
        every row from the disk); ``n_edge`` None: full graphs."""
        store = cls.__new__(cls)
        store._mapped = True
        store.n_node, store.node_offsets = n_node, offsets
        store.full = n_edge is None
        if store.full:
            store.n_edge = n_node * np.maximum(n_node - 1, 0)
            store.edge_offsets = store.senders = store.receivers = None
        else:
            store.n_edge, store.edge_offsets = n_edge, _offsets(n_edge)
            store.senders, store.receivers = senders, receivers
        store.nodes, store.edges, store.graphs = dict(nodes), dict(edges or {}), dict(graphs)
        return store

    def _take_arrays(self, nodes, edges, graphs, copy: bool) -> None:
        """The node, edge and graph arrays, each checked for its row count (and copied, read-only,
        where ``copy``); then the atoms' positions and forces checked finite."""
        total, total_edges, n = int(self.node_offsets[-1]), int(self.n_edge.sum()), len(self.n_node)
        self.nodes = {k: _array(v, f"nodes[{k!r}]", total, copy) for k, v in (nodes or {}).items()}
        self.edges = {k: _array(v, f"edges[{k!r}]", total_edges, copy) for k, v in (edges or {}).items()}
        self.graphs = {k: _array(v, f"graphs[{k!r}]", n, copy) for k, v in (graphs or {}).items()}
        # positions and forces a potential differentiates and fits are finite, as every reader of
        # `geobatch run` checks them: whatever made the store (PyG, jraph, arrays)
        check_finite_atoms(self)

    def __len__(self) -> int:
        return len(self.n_node)

    def __getstate__(self) -> dict:
        # a store mapped from a disk-backed store's files pickles as where it is read from, and
        # is mapped again where it is unpickled (a worker process maps the files, it does not
        # receive a copy); any other store pickles its arrays
        reopen = self.__dict__.get("_reopen")
        if self._mapped and reopen is not None:
            return {"_reopen": reopen}
        return {k: v for k, v in self.__dict__.items() if k not in ("_mapped", "_reopen")}

    def __setstate__(self, state: dict) -> None:
        if "_reopen" in state:
            from .disk import open_store

            path, split, partial = state["_reopen"]
            state = open_store(path, partial=partial).splits[split].__dict__
        self.__dict__.update(state)

    @property
    def sizes(self) -> np.ndarray:
        """``(N, 2)`` nodes and edges per graph: what a ``Planner`` plans from."""
        return np.stack([self.n_node, self.n_edge], axis=1)

    @classmethod
    def from_geometry(
        cls,
        atomic_numbers,
        positions,
        n_node,
        *,
        graph: Any = "full",
        cells=None,
        pbc=None,
        graphs: Optional[Mapping[str, Any]] = None,
        nodes: Optional[Mapping[str, Any]] = None,
    ) -> "GraphStore":
        """Atoms of ``n_node`` per graph with ``positions`` (Angstrom) and edges by a geobatch
        graph rule: ``"full"`` (made at collation), ``{"kind": "cutoff", "radius": 5.0}`` or
        ``{"kind": "knn", "k": 12}``, with periodic images where ``pbc`` (graphs x 3) is true
        for the ``cells`` (graphs x 3 x 3, lattice vectors as rows). Node arrays
        ``atomic_numbers`` and ``positions``; edge array ``edge_vectors`` (receiver minus
        sender, image shift included); ``graphs`` adds graph arrays (targets).

        Refused with the value named: an atomic number outside 1..118 (or not a whole number),
        a ``radius`` that is not a positive finite number, a ``k`` that is not a positive
        integer; a cutoff that gives no edge at all is refused and one that leaves most atoms
        alone warns (``UserWarning``), as ``geobatch run`` does."""
        counts = _counts(n_node, "n_node")
        offsets = _offsets(counts)
        pos = np.ascontiguousarray(positions, dtype=np.float32)
        if pos.ndim != 2 or pos.shape[1] != 3 or len(pos) != int(offsets[-1]):
            raise ValueError(f"positions must be ({int(offsets[-1])}, 3), got {pos.shape}")
        if not np.isfinite(pos).all():
            raise ValueError(f"positions[{int(np.argwhere(~np.isfinite(pos))[0, 0])}] is not finite")
        z = _array(atomic_numbers, "atomic_numbers", len(pos))
        _check_atomic_numbers(z, offsets)
        node_arrays = {"atomic_numbers": z, "positions": pos, **(nodes or {})}
        rule = {"kind": graph} if isinstance(graph, str) else dict(graph)
        _check_rule(rule)
        if rule.get("kind") == "full" and len(rule) == 1 and pbc is None:
            # what the CLI's full rule refuses: two atoms at one position (no edge direction)
            exact = np.ascontiguousarray(positions, dtype=np.float64).reshape(pos.shape)
            _native.check_full_graphs(exact, offsets)
            return cls(counts, nodes=node_arrays, graphs=graphs, full=True)
        n = len(counts)
        # edges are found in double precision (the store keeps float32 positions)
        c = None if cells is None else np.ascontiguousarray(cells, dtype=np.float64).reshape(n, 3, 3)
        p = None if pbc is None else np.ascontiguousarray(pbc, dtype=bool).reshape(n, 3)
        if (p is None) != (c is None):
            raise ValueError("give cells and pbc together")
        exact = np.ascontiguousarray(positions, dtype=np.float64).reshape(pos.shape)
        native = _native.graph_edges(rule, exact, offsets, cells=c, pbc=p)
        # the rule `geobatch run` and load_dataset apply: no edge at all is refused, most atoms
        # alone said
        alone = _native.edge_coverage(rule, offsets, native[0], native[2], bool(p is not None and p.any()))
        if alone is not None:
            warnings.warn(alone, UserWarning, stacklevel=2)
        return cls._of_native_edges(counts, offsets, native, nodes=node_arrays, graphs=graphs)

    @classmethod
    def from_pyg(cls, data_list: Sequence[Any]) -> "GraphStore":
        """A store of PyG ``Data`` objects (one concatenation, once): node attributes (first
        dimension ``num_nodes``: ``x``, ``pos``, ``z``...), edge attributes (``edge_attr`` and any
        other of first dimension ``num_edges``), the rest graph attributes (``y``...)."""
        if not len(data_list):
            raise ValueError("data_list is empty")
        first = data_list[0]
        keys = [k for k in first.keys() if k != "edge_index"]
        n_node = np.array([d.num_nodes for d in data_list], dtype=np.int64)
        n_edge = np.array([d.num_edges for d in data_list], dtype=np.int64)
        node_keys = [k for k in keys if first.is_node_attr(k)]
        edge_keys = [k for k in keys if first.is_edge_attr(k)]
        graph_keys = [k for k in keys if k not in node_keys and k not in edge_keys]

        for i, d in enumerate(data_list):
            check_potential_data(d, i)

        def cat(key):
            return np.concatenate([np.asarray(d[key]) for d in data_list])

        def row(value):  # one row per graph, its shape kept: a (1, 3, 3) cell stays 3 x 3
            a = np.asarray(value)
            return a if a.ndim >= 2 and a.shape[0] == 1 else a.reshape(1, -1)

        edge_index = np.concatenate([np.asarray(d.edge_index) for d in data_list], axis=1)
        return cls(
            n_node,
            nodes={k: cat(k) for k in node_keys},
            edges={k: cat(k) for k in edge_keys},
            graphs={k: np.concatenate([row(d[k]) for d in data_list]) for k in graph_keys},
            edge_index=edge_index,
            n_edge=n_edge,
        )

    @classmethod
    def from_jraph(cls, graphs) -> "GraphStore":
        """A store of a ``jraph.GraphsTuple`` or a sequence of them (see
        ``geobatch.jraph.from_jraph``)."""
        n_node, arrays, layout = store_arrays(graphs)
        store = cls(n_node, copy=False, **arrays)
        store.jraph_layout = layout
        return store

    def __repr__(self) -> str:
        edges = "full" if self.full else f"{int(self.n_edge.sum())} edges"
        names = ", ".join(
            f"{group}={sorted(arrays)}"
            for group, arrays in (("nodes", self.nodes), ("edges", self.edges), ("graphs", self.graphs))
            if arrays
        )
        return f"GraphStore({len(self)} graphs, {int(self.n_node.sum())} nodes, {edges}; {names})"

    def collator(self, capacity, index_dtype=np.int32, *, max_free: int = 8) -> "Collator":
        """A ``Collator`` with outputs for padded shapes up to ``capacity``."""
        return Collator(self, capacity, index_dtype, max_free=max_free)


class PaddedBatch:
    """A collated batch: ``nodes``/``edges``/``graphs``: the store's named arrays, padded;
    ``senders``, ``receivers`` (batch indices), ``node_graph`` (graph of every node),
    ``n_node``, ``n_edge``, ``graph_mask``; ``real`` and ``padded`` (nodes, edges, graphs).

    Lifetime: its arrays own their buffer, which is never written again while anything refers to
    them (this batch, one of its arrays, a view, a tensor or a JAX array made from one, a
    transfer in flight), and goes back to the collator when the last of them is dropped
    (``Collator``)."""

    __slots__ = ("nodes", "edges", "graphs", "senders", "receivers", "node_graph", "n_node",
                 "n_edge", "graph_mask", "real", "padded")

    def to_jraph(self):
        """A ``jraph.GraphsTuple`` of these arrays (see ``geobatch.jraph``)."""
        return graphs_tuple(self)

    def to_torch(self, device=None) -> dict:
        """The arrays as torch tensors sharing their memory (see ``geobatch.torch``)."""
        return tensors(self, device)

    def __repr__(self) -> str:
        return f"PaddedBatch(real={self.real}, padded={self.padded})"


def _native_collator(store: "GraphStore", capacity, index_dtype, *, pyg: bool, max_free: int):
    """The native collator of a store: its arrays as rows of bytes, with their dtypes and
    trailing shapes (what the output arrays are made as)."""
    stored = not store.full

    def spec(arrays):
        return [(a.dtype, tuple(int(d) for d in a.shape[1:])) for a in arrays.values()]

    return _native.Collator(
        node_offsets=store.node_offsets,
        edge_offsets=store.edge_offsets if stored else None,
        senders_local=store.senders if stored else None,
        receivers_local=store.receivers if stored else None,
        node_src=[_bytes(a) for a in store.nodes.values()],
        edge_src=[_bytes(a) for a in store.edges.values()],
        graph_src=[_bytes(a) for a in store.graphs.values()],
        node_dtypes=spec(store.nodes),
        edge_dtypes=spec(store.edges),
        graph_dtypes=spec(store.graphs),
        capacity=tuple(int(c) for c in capacity),
        index_dtype=np.dtype(index_dtype),
        pyg=pyg,
        max_free=max_free,
        # a store mapped from files (geobatch.disk): each batch's rows asked for at once
        read_ahead=store._mapped,
    )


#: The edge length (Angstrom) of every padding edge of a batch that carries periodic edges: each
#: padding graph's ``cell`` is this times the identity, each padding edge's ``cell_offsets``
#: ``(1, 0, 0)``, so ``x_s + S . cell - x_r`` of a padding edge is ``(PADDING_LENGTH, 0, 0)``:
#: beyond any cutoff, and never zero (a zero-length edge is infinite or NaN in ``1/r``, in the
#: gradient of ``|r|``). Real rows are never touched.
PADDING_LENGTH = 1000.0


def pad_periodic(cell, cell_offsets, real) -> None:
    """Writes the padding rows of a batch's per-graph ``cell`` and per-edge ``cell_offsets``
    (NumPy arrays or torch tensors, their padding rows zero as collated) as ``PADDING_LENGTH``
    says; ``real`` is the batch's real (nodes, edges, graphs). Nothing happens unless the batch
    has both. Two strided fills of one value (a broadcast row would cost 10 us a batch)."""
    if cell is None or cell_offsets is None:
        return
    if tuple(cell.shape[1:]) not in ((3, 3), (9,)) or tuple(cell_offsets.shape[1:]) != (3,):
        raise ValueError(
            f"a batch with 'cell' {tuple(cell.shape)} and 'cell_offsets' {tuple(cell_offsets.shape)}: "
            "geobatch writes the padding rows of a per-graph 3 x 3 cell and per-edge integer shifts "
            "(3 each) under these names; rename arrays that are something else"
        )
    _, re, rg = real
    cell.reshape(len(cell), 9)[rg:, ::4] = PADDING_LENGTH
    cell_offsets[re:, 0] = 1


def _padded_batch(names, real, padded, arrays) -> PaddedBatch:
    """A ``PaddedBatch`` of a native collation's arrays (jraph's layout)."""
    nodes, edges, graphs = names
    k, m, j = len(nodes), len(edges), len(graphs)
    b = PaddedBatch()
    b.nodes = dict(zip(nodes, arrays[:k]))
    b.edges = dict(zip(edges, arrays[k : k + m]))
    b.graphs = dict(zip(graphs, arrays[k + m : k + m + j]))
    edge_index, b.node_graph, b.n_node, b.n_edge, b.graph_mask = arrays[k + m + j : k + m + j + 5]
    b.senders, b.receivers = edge_index
    b.real, b.padded = real, padded
    pad_periodic(b.graphs.get("cell"), b.edges.get("cell_offsets"), real)
    return b


class Collator:
    """Collates plans of a ``GraphStore`` into padded output arrays for shapes up to
    ``capacity`` (nodes, edges, graphs), with ``index_dtype`` (int32 or int64) indices. The
    Rust kernel copies rows, makes full graphs' edges, pads, with the GIL released.

    **Lifetime.** Every batch is written into a buffer of its own, which its arrays own: it
    stays what it was for as long as anything refers to it (the batch, an array or view of it, a
    ``torch.from_numpy`` tensor, a JAX array, a transfer in flight), and goes back to the
    collator when the last of them is dropped. So a loop that keeps the last batch, a JAX step
    dispatched asynchronously on ``batch.to_jraph()``, a prefetch queue or a list of kept
    batches never sees a later batch's data; a loop that drops each batch reuses two buffers (no
    allocation in steady state); keeping a batch costs one allocation, and dropping it gives the
    memory back (at most ``max_free`` buffers are kept for later batches, the rest are freed).
    ``buffers`` counts the buffers held: out with live batches, and free."""

    def __init__(self, store: GraphStore, capacity, index_dtype=np.int32, *, max_free: int = 8):
        cn, ce, cg = (_count(c, "capacity", 1) for c in capacity)
        idt = np.dtype(index_dtype)
        if idt not in (np.dtype(np.int32), np.dtype(np.int64)):
            raise ValueError(f"index_dtype must be int32 or int64, got {idt}")
        self.store = store
        self.capacity = (cn, ce, cg)
        self.index_dtype = idt
        self._names = (tuple(store.nodes), tuple(store.edges), tuple(store.graphs))
        self._native = _native_collator(store, self.capacity, idt, pyg=False,
                                        max_free=_count(max_free, "max_free"))
        self._bound: Optional[tuple] = None

    @property
    def buffers(self) -> int:
        """Buffers this collator holds: out with batches still alive, and kept free."""
        return self._native.leased + self._native.free

    @property
    def max_free(self) -> int:
        """The most free buffers kept for later batches (one given back beyond them is freed)."""
        return self._native.max_free

    @max_free.setter
    def max_free(self, value: int) -> None:
        self._native.max_free = _count(value, "max_free")

    def collate(self, indices, padded) -> PaddedBatch:
        """The graphs ``indices`` (integers) of the store padded to ``padded`` (nodes, edges,
        graphs)."""
        padded = tuple(_count(x, "padded") for x in padded)
        if len(padded) != 3:
            raise ValueError(f"padded must be (nodes, edges, graphs), got {padded}")
        real, arrays = self._native.collate(_indices(indices), padded)
        return _padded_batch(self._names, real, padded, arrays)

    def _bind(self, plan: Plan):
        """The plan copied into the collator and checked, once per plan."""
        bound = self._bound
        if bound is None or bound[0] is not plan:
            bound = (plan, self._native.bind(plan.indices, plan.offsets, plan.padded))
            self._bound = bound
        return bound[1]

    def collate_plan(self, plan: Plan, b: int) -> PaddedBatch:
        """Batch ``b`` of a plan, padded to the plan's shape (one native call)."""
        b = _index(b, "batch")
        n = len(plan)
        real, padded, arrays = self._native.collate_bound(self._bind(plan), b + n if -n <= b < 0 else b)
        return _padded_batch(self._names, real, padded, arrays)

    def __repr__(self) -> str:
        return (
            f"Collator({len(self.store)} graphs, capacity={self.capacity}, "
            f"index_dtype={self.index_dtype.name}, buffers={self.buffers})"
        )

    def __getstate__(self):
        return {"store": self.store, "capacity": self.capacity, "index_dtype": self.index_dtype.str,
                "max_free": self.max_free}

    def __setstate__(self, state):
        self.__init__(state["store"], state["capacity"], np.dtype(state["index_dtype"]),
                      max_free=state.get("max_free", 8))


def _index(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if value < 0 and value < -(2**63):
        raise ValueError(f"{name} = {value} is out of range")
    return value


def _indices(indices) -> np.ndarray:
    """Graph indices as a C-contiguous int64 array; floats and other non-integers refused."""
    if isinstance(indices, np.ndarray) and indices.dtype == np.int64 and indices.flags.c_contiguous:
        return indices
    a = np.asarray(indices)
    if a.size and a.dtype.kind not in "iu":
        raise TypeError(f"indices must be integers, got dtype {a.dtype}")
    if a.ndim != 1:
        raise ValueError(f"indices must be 1-D, got shape {a.shape}")
    return np.ascontiguousarray(a, dtype=np.int64)
