"""Stores of concatenated per-graph arrays, and their collation into reusable padded arrays.

Layout of a collated batch (jraph's ``pad_with_graphs``, as geobatch's own batches): real graphs
first, concatenated; the first padding graph owns every padding node and every padding edge;
padding edges point from and to the first padding node; padding rows are zero; further padding
graphs are empty. ``graph_mask`` is true for real graphs.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from . import _native
from .planner import Plan, _count


def _array(a: Any, name: str, rows: Optional[int] = None) -> np.ndarray:
    a = np.ascontiguousarray(a)
    if a.ndim == 0:
        raise ValueError(f"{name} must have one row per item, got a scalar")
    if a.dtype.hasobject:
        raise TypeError(f"{name} must be a numeric array, got dtype {a.dtype}")
    if rows is not None and len(a) != rows:
        raise ValueError(f"{name} has {len(a)} rows, expected {rows}")
    return a


def _counts(a: Any, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 1 or a.dtype.kind not in "iu":
        raise TypeError(f"{name} must be a 1-D integer array, got shape {a.shape} dtype {a.dtype}")
    if a.dtype.kind == "i" and (a < 0).any():
        i = int(np.argwhere(a < 0)[0, 0])
        raise ValueError(f"{name}[{i}] = {int(a[i])}: counts cannot be negative")
    return a.astype(np.int64)


def _offsets(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def _bytes(a: np.ndarray) -> np.ndarray:
    """A 2-D uint8 view of a C-contiguous array: one row of bytes per item."""
    return a.view(np.uint8).reshape(len(a), a.itemsize * int(np.prod(a.shape[1:], dtype=np.int64)))


class GraphStore:
    """Graphs as concatenated arrays: ``n_node`` nodes per graph; ``nodes``, ``edges``,
    ``graphs``: named arrays with one row per node, edge or graph (any dtype, any trailing
    shape); ``edge_index`` (2 x edges: senders, receivers), local to each graph, with ``n_edge``
    edges per graph; or ``full=True``: every ordered pair of distinct nodes of a graph is an
    edge, made at collation (no edge is stored).

    ``GraphStore.from_geometry`` builds the edges of atoms by geobatch's graph rules;
    ``load_dataset`` gives geobatch's own datasets as stores.
    """

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
    ):
        self.n_node = _counts(n_node, "n_node")
        self.node_offsets = _offsets(self.n_node)
        total = int(self.node_offsets[-1])
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
            self.senders = np.ascontiguousarray(ei[0], dtype=np.int32)
            self.receivers = np.ascontiguousarray(ei[1], dtype=np.int32)
        total_edges = int(self.n_edge.sum())
        self.nodes = {k: _array(v, f"nodes[{k!r}]", total) for k, v in (nodes or {}).items()}
        self.edges = {k: _array(v, f"edges[{k!r}]", total_edges) for k, v in (edges or {}).items()}
        self.graphs = {k: _array(v, f"graphs[{k!r}]", n) for k, v in (graphs or {}).items()}

    def __len__(self) -> int:
        return len(self.n_node)

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
        sender, image shift included); ``graphs`` adds graph arrays (targets)."""
        counts = _counts(n_node, "n_node")
        offsets = _offsets(counts)
        pos = np.ascontiguousarray(positions, dtype=np.float32)
        if pos.ndim != 2 or pos.shape[1] != 3 or len(pos) != int(offsets[-1]):
            raise ValueError(f"positions must be ({int(offsets[-1])}, 3), got {pos.shape}")
        if not np.isfinite(pos).all():
            raise ValueError(f"positions[{int(np.argwhere(~np.isfinite(pos))[0, 0])}] is not finite")
        z = _array(atomic_numbers, "atomic_numbers", len(pos))
        node_arrays = {"atomic_numbers": z, "positions": pos, **(nodes or {})}
        rule = {"kind": graph} if isinstance(graph, str) else dict(graph)
        if rule.get("kind") == "full" and len(rule) == 1 and pbc is None:
            return cls(counts, nodes=node_arrays, graphs=graphs, full=True)
        n = len(counts)
        c = None if cells is None else np.ascontiguousarray(cells, dtype=np.float32).reshape(n, 3, 3)
        p = None if pbc is None else np.ascontiguousarray(pbc, dtype=bool).reshape(n, 3)
        if (p is None) != (c is None):
            raise ValueError("give cells and pbc together")
        eo, s, r, v = _native.graph_edges(json.dumps(rule), pos, offsets, c, p)
        return cls(
            counts,
            nodes=node_arrays,
            edges={"edge_vectors": v},
            graphs=graphs,
            edge_index=np.stack([s, r]),
            n_edge=np.diff(eo),
        )

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

        def cat(key):
            return np.concatenate([np.asarray(d[key]) for d in data_list])

        edge_index = np.concatenate([np.asarray(d.edge_index) for d in data_list], axis=1)
        return cls(
            n_node,
            nodes={k: cat(k) for k in node_keys},
            edges={k: cat(k) for k in edge_keys},
            graphs={k: np.concatenate([np.asarray(d[k]).reshape(1, -1) for d in data_list]) for k in graph_keys},
            edge_index=edge_index,
            n_edge=n_edge,
        )

    def collator(self, capacity, index_dtype=np.int32) -> "Collator":
        """A ``Collator`` with outputs for padded shapes up to ``capacity``."""
        return Collator(self, capacity, index_dtype)


class PaddedBatch:
    """A collated batch: views of the collator's output arrays, valid until its next collation
    (copy what must be kept). ``nodes``/``edges``/``graphs``: the store's named arrays, padded;
    ``senders``, ``receivers`` (batch indices), ``node_graph`` (graph of every node),
    ``n_node``, ``n_edge``, ``graph_mask``; ``real`` and ``padded`` (nodes, edges, graphs)."""

    __slots__ = ("nodes", "edges", "graphs", "senders", "receivers", "node_graph", "n_node",
                 "n_edge", "graph_mask", "real", "padded")

    def to_jraph(self):
        """A ``jraph.GraphsTuple`` of these arrays (see ``geobatch.jraph``)."""
        from .jraph import graphs_tuple

        return graphs_tuple(self)

    def to_torch(self, device=None) -> dict:
        """The arrays as torch tensors sharing their memory (see ``geobatch.torch``)."""
        from .torch import tensors

        return tensors(self, device)

    def __repr__(self) -> str:
        return f"PaddedBatch(real={self.real}, padded={self.padded})"


class Collator:
    """Collates plans of a ``GraphStore`` into output arrays allocated once for shapes up to
    ``capacity`` (nodes, edges, graphs), with ``index_dtype`` (int32 or int64) indices. The
    Rust kernel copies rows, makes full graphs' edges, pads, with the GIL released."""

    def __init__(self, store: GraphStore, capacity, index_dtype=np.int32):
        cn, ce, cg = (_count(c, "capacity", 1) for c in capacity)
        idt = np.dtype(index_dtype)
        if idt not in (np.dtype(np.int32), np.dtype(np.int64)):
            raise ValueError(f"index_dtype must be int32 or int64, got {idt}")
        self.store = store
        self.capacity = (cn, ce, cg)

        def out(arrays, rows):
            return {k: np.zeros((rows,) + a.shape[1:], dtype=a.dtype) for k, a in arrays.items()}

        self.nodes, self.edges, self.graphs = out(store.nodes, cn), out(store.edges, ce), out(store.graphs, cg)
        self.senders = np.zeros(ce, dtype=idt)
        self.receivers = np.zeros(ce, dtype=idt)
        self.node_graph = np.zeros(cn, dtype=idt)
        self.n_node = np.zeros(cg, dtype=idt)
        self.n_edge = np.zeros(cg, dtype=idt)
        self.graph_mask = np.zeros(cg, dtype=bool)
        stored = not store.full
        self._native = _native.Collator(
            store.node_offsets,
            store.edge_offsets if stored else None,
            store.senders if stored else None,
            store.receivers if stored else None,
            [_bytes(a) for a in store.nodes.values()],
            [_bytes(a) for a in self.nodes.values()],
            [_bytes(a) for a in store.edges.values()],
            [_bytes(a) for a in self.edges.values()],
            [_bytes(a) for a in store.graphs.values()],
            [_bytes(a) for a in self.graphs.values()],
            self.senders,
            self.receivers,
            self.node_graph,
            self.n_node,
            self.n_edge,
            self.graph_mask,
        )
        self._views: Dict[Tuple[int, int, int], PaddedBatch] = {}
        self._bound: Optional[Plan] = None

    def _view(self, padded: Tuple[int, int, int]) -> PaddedBatch:
        b = self._views.get(padded)
        if b is None:
            n, e, g = padded
            b = PaddedBatch()
            b.nodes = {k: v[:n] for k, v in self.nodes.items()}
            b.edges = {k: v[:e] for k, v in self.edges.items()}
            b.graphs = {k: v[:g] for k, v in self.graphs.items()}
            b.senders, b.receivers = self.senders[:e], self.receivers[:e]
            b.node_graph = self.node_graph[:n]
            b.n_node, b.n_edge, b.graph_mask = self.n_node[:g], self.n_edge[:g], self.graph_mask[:g]
            b.padded = padded
            self._views[padded] = b
        return b

    def collate(self, indices, padded) -> PaddedBatch:
        """The graphs ``indices`` (int64) of the store padded to ``padded`` (nodes, edges,
        graphs)."""
        padded = (int(padded[0]), int(padded[1]), int(padded[2]))
        if not (isinstance(indices, np.ndarray) and indices.dtype == np.int64):
            indices = np.ascontiguousarray(indices, dtype=np.int64)
        real = self._native.collate(indices, padded)
        b = self._view(padded)
        b.real = real
        return b

    def collate_plan(self, plan: Plan, b: int) -> PaddedBatch:
        """Batch ``b`` of a plan, padded to the plan's shape (one native call)."""
        if self._bound is not plan:
            # the plan's arrays are copied into the collator and checked once
            self._native.bind(plan.indices, plan.offsets, plan.padded)
            self._bound = plan
        real, padded = self._native.collate_bound(b)
        batch = self._views.get(padded) or self._view(padded)
        batch.real = real
        return batch


def dataset_kinds() -> list:
    """Names of geobatch's graph-level datasets linked into this build."""
    return list(_native.dataset_kinds())


class Dataset:
    """A geobatch dataset read from Python: ``splits`` (``train``, ``validation``, ``test``) of
    ``GraphStore`` with node arrays ``species`` (class index), ``atomic_numbers``, ``positions``,
    graph arrays ``targets`` (graphs x targets) and, for stored edges, ``edge_vectors``;
    ``ids`` per split; ``target_names``, ``target_units``, ``species_classes``, ``source``."""

    def __init__(self, raw: dict):
        self.name = raw["name"]
        self.source = raw["source"]
        self.target_names = list(raw["target_names"])
        self.target_units = list(raw["target_units"])
        self.species_classes = raw["species_classes"]
        self.splits: Dict[str, GraphStore] = {}
        self.ids: Dict[str, list] = {}
        self.cells: Dict[str, np.ndarray] = {}
        for name, s in raw["splits"].items():
            n_node = np.diff(s["node_offsets"])
            nodes = {"species": s["species"], "atomic_numbers": s["atomic_numbers"], "positions": s["positions"]}
            graphs = {"targets": s["targets"]}
            if s["full"]:
                store = GraphStore(n_node, nodes=nodes, graphs=graphs, full=True)
            else:
                store = GraphStore(
                    n_node,
                    nodes=nodes,
                    edges={"edge_vectors": s["edge_vectors"]},
                    graphs=graphs,
                    edge_index=np.stack([s["senders"], s["receivers"]]),
                    n_edge=np.diff(s["edge_offsets"]),
                )
            self.splits[name] = store
            self.ids[name] = s["ids"]
            self.cells[name] = s["cells"]

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k} {len(v)}" for k, v in self.splits.items())
        return f"Dataset({self.name!r}: {sizes})"


def load_dataset(config=None, *, seed: Optional[int] = None, data_dir=None, **table) -> Dataset:
    """Reads a geobatch dataset with its plugin, as ``geobatch run`` does: from a config file's
    ``[dataset]`` table (its ``[experiment]`` seed and data folder unless given), or from the
    table's keys, e.g. ``load_dataset(kind="qm9", targets=["U0"])``."""
    if config is not None and table:
        raise ValueError("give a config file or the dataset's options, not both")
    if config is None and "kind" not in table:
        raise ValueError(f"give a config file or kind=..., one of {dataset_kinds()}")
    seed = None if seed is None else _count(seed, "seed")
    dd = None if data_dir is None else str(data_dir)
    if config is not None:
        raw = _native.load_dataset(config=str(config), seed=seed, data_dir=dd)
    else:
        raw = _native.load_dataset(table_json=json.dumps(table), seed=seed, data_dir=dd)
    return Dataset(raw)
