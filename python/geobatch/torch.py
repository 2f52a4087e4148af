"""PyTorch helpers (torch is imported on use): a collated batch as tensors, and a padding
collate for ``torch.utils.data.DataLoader`` over PyG ``Data`` objects, so that
``torch.compile(dynamic=False)`` sees one shape per padded shape of the plan."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from .planner import Plan


def tensors(batch, device=None) -> dict:
    """The batch's arrays as tensors (``torch.from_numpy``: no copy on the CPU; moved to
    ``device`` if given). Keys: the store's node, edge and graph array names, ``senders``,
    ``receivers``, ``node_graph``, ``n_node``, ``n_edge``, ``graph_mask``."""
    import torch

    out = {}
    for group in (batch.nodes, batch.edges, batch.graphs):
        for k, v in group.items():
            out[k] = torch.from_numpy(v)
    for k in ("senders", "receivers", "node_graph", "n_node", "n_edge", "graph_mask"):
        out[k] = torch.from_numpy(getattr(batch, k))
    if device is not None:
        out = {k: v.to(device, non_blocking=True) for k, v in out.items()}
    return out


class PadCollate:
    """``collate_fn`` for ``DataLoader(PlannedDataset(dataset), batch_sampler=BatchSampler(...),
    collate_fn=PadCollate())``: the PyG ``Data`` objects of a planned batch as one PyG ``Batch``
    padded to the plan's shape, jraph's layout: real graphs first, then one padding graph that
    owns every padding node and edge (edges from and to the first padding node), then empty
    graphs. Node attributes, edge attributes and graph attributes are zero-padded;
    ``batch.batch`` maps padding nodes to the first padding graph; ``node_mask``, ``edge_mask``
    and ``graph_mask`` mark real entries; ``num_graphs`` is the padded graph count. Index
    tensors are int64."""

    def __init__(self, shape: Optional[Sequence[int]] = None):
        #: the padded shape for data that comes without one (a one-shape batcher's budget)
        self.shape = None if shape is None else tuple(int(x) for x in shape)

    def __call__(self, items):
        import torch
        from torch_geometric.data import Batch

        padded = getattr(items, "padded", None) or self.shape
        if padded is None:
            raise ValueError(
                "PadCollate needs the plan's padded shape: wrap the dataset in "
                "geobatch.torch.PlannedDataset, or give PadCollate(shape=...)"
            )
        pn, pe, pg = padded
        first = items[0]
        node_keys = {k for k in first.keys() if first.is_node_attr(k)}
        edge_keys = {k for k in first.keys() if first.is_edge_attr(k)}
        batch = Batch.from_data_list(list(items))
        n, e, g = batch.num_nodes, batch.num_edges, batch.num_graphs
        if not (pn > n and pe >= e and pg > g):
            raise ValueError(f"padded shape {padded} cannot hold the batch's ({n}, {e}, {g})")
        for key in list(batch.keys()):
            value = batch[key]
            if not torch.is_tensor(value) or key in ("ptr",):
                continue
            if key == "edge_index":
                pad = torch.full((2, pe - e), n, dtype=value.dtype)
                batch.edge_index = torch.cat([value, pad], dim=1)
            elif key == "batch":
                batch.batch = torch.cat([value, torch.full((pn - n,), g, dtype=value.dtype)])
            elif key in node_keys and value.dim() > 0 and value.size(0) == n:
                batch[key] = _pad(value, pn)
            elif key in edge_keys and value.dim() > 0 and value.size(0) == e:
                batch[key] = _pad(value, pe)
            elif value.dim() > 0 and value.size(0) == g:
                batch[key] = _pad(value, pg)
        batch.node_mask = torch.arange(pn) < n
        batch.edge_mask = torch.arange(pe) < e
        batch.graph_mask = torch.arange(pg) < g
        counts = torch.zeros(pg, dtype=torch.long)
        counts[:g] = batch.ptr[1:] - batch.ptr[:-1]
        counts[g] = pn - n
        batch.ptr = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])
        batch._num_graphs = pg
        return batch


def _pad(value, rows: int):
    import torch

    pad = torch.zeros((rows - value.size(0),) + tuple(value.shape[1:]), dtype=value.dtype)
    return torch.cat([value, pad])


class _Items(list):
    """The items of one planned batch, with the plan's ``padded`` shape."""

    __slots__ = ("padded",)


class PlannedDataset:
    """A map-style dataset whose batched reads (``__getitems__``, used by ``DataLoader``) keep
    the planned batch's ``padded`` shape for ``PadCollate``."""

    def __init__(self, dataset: Any):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        return self.dataset[i]

    def __getitems__(self, indices):
        items = _Items(self.dataset[i] for i in indices)
        items.padded = getattr(indices, "padded", None)
        return items


class DataLoader:
    """PyG's ``DataLoader`` with geobatch's batchers and native collator: padded PyG ``Batch``
    objects, one padded shape per plan shape (``pack`` and ``dynamic``: one for the whole run).

    ``dataset``: a list of PyG ``Data``, an ``InMemoryDataset`` (PyG's ``QM9``...; its stored
    arrays are read once, a subset or shuffled view included) or a ``GraphStore``. ``kind``,
    ``batch_size`` and ``**options`` choose a registered batcher as in a config's ``[batcher]``
    table; ``shuffle``, ``seed``, ``rank``/``world_size``, ``drop_last`` and ``quirks`` are the
    ``BatchSampler``'s. ``prefetch=k`` collates k batches ahead on a background thread (the
    native part runs without the GIL); ``pin_memory`` and ``device`` copy each batch to pinned
    memory and to the device (``non_blocking`` when pinned).

    Each batch is a ``PaddedBatch`` (a PyG ``Batch``): the dataset's node, edge and graph
    attributes padded with zeros; ``edge_index`` int64; padding nodes and edges belong to the
    last padding graph, so ``batch.max() + 1 == num_graphs`` is the padded graph count on every
    batch (stock readouts give one row per padded graph, the same shape every step); ``ptr``;
    ``node_mask``, ``edge_mask``, ``graph_mask`` mark the real entries; ``num_real_graphs``.
    ``to_data_list()``, ``batch[i]`` and ``len(batch)`` see the real graphs. Its tensors share
    the collator's memory, which is not written again while any of them is alive.

    ``len()``, ``set_epoch``, ``state_dict()`` (the batches this loop took from the current pass)
    and ``load_state_dict`` are the sampler's."""

    def __init__(
        self,
        dataset: Any,
        kind: str = "pack",
        batch_size: int = 32,
        *,
        shuffle: bool = True,
        seed: int = 0,
        rank: Optional[int] = None,
        world_size: Optional[int] = None,
        drop_last: bool = False,
        quirks: str = "clean",
        prefetch: int = 0,
        pin_memory: bool = False,
        device: Any = None,
        **options,
    ):
        from .planner import _count
        from .sampler import BatchSampler

        self.store, self._rows = _as_store(dataset)
        sizes = self.store.sizes if self._rows is None else self.store.sizes[self._rows]
        self.sampler = BatchSampler(
            sizes, kind, batch_size, shuffle=shuffle, seed=seed, rank=rank,
            world_size=world_size, drop_last=drop_last, quirks=quirks, **options,
        )
        self.prefetch = _count(prefetch, "prefetch")
        self.pin_memory = bool(pin_memory)
        self.device = device
        self._pools: dict = {}
        self._bound = None
        self._taken = 0

    def __len__(self) -> int:
        return len(self.sampler)

    def set_epoch(self, epoch: int) -> None:
        """Starts epoch ``epoch`` at its first batch (as ``DistributedSampler.set_epoch``)."""
        self.sampler.set_epoch(epoch)

    def state_dict(self) -> dict:
        """Where the loop stands: the batches it took from the current pass (prefetched ones not
        counted)."""
        return self.sampler.state_dict(consumed=self._taken)

    def load_state_dict(self, state: dict) -> None:
        """Continues after the batches ``state`` counts."""
        self.sampler.load_state_dict(state)

    def __repr__(self) -> str:
        return f"geobatch.torch.DataLoader({self.sampler!r}, prefetch={self.prefetch})"

    def __iter__(self):
        plan, steps = self.sampler._pass_steps()
        bound = self._bind(plan)
        self._taken = 0
        made = (self._batch(bound, b) for b in steps)
        if self.prefetch:
            made = _ahead(made, self.prefetch)
        for batch in made:
            self._taken += 1
            yield batch

    def _bind(self, plan):
        """The plan as the collator reads it: graph numbers of the store (a subset's mapped
        through its rows), the padded shapes as tuples; made once per plan."""
        if self._bound is None or self._bound[0] is not plan:
            indices = plan.indices if self._rows is None else self._rows[plan.indices]
            mapped = Plan(indices, plan.offsets, plan.real, plan.padded, plan.repeated)
            shapes = [tuple(p) for p in plan.padded.tolist()]
            self._bound = (plan, mapped, shapes)
        return self._bound

    def _buffers(self, padded):
        from .store import _Buffers

        n, e, g = padded

        def make():
            s = _Buffers(self.store, padded, np.dtype(np.int64), extra=lambda: {
                "ptr": np.zeros(g + 1, dtype=np.int64),
                "node_mask": np.zeros(n, dtype=bool),
                "edge_mask": np.zeros(e, dtype=bool),
            })
            nodes, edges, graphs, _ = s.arrays
            s.kinds = (tuple(nodes), tuple(edges), tuple(graphs))
            return s

        return _Buffers.take(self._pools.setdefault(padded, []), make)

    def _batch(self, bound, b: int):
        _, plan, shapes = bound
        padded = shapes[b]
        s = self._buffers(padded)
        real, _ = s.collate_bound(plan, b)
        batch = _pyg_batch(s, real, padded)
        if self.pin_memory:
            batch = batch.pin_memory()
        if self.device is not None:
            batch = batch.to(self.device, non_blocking=self.pin_memory)
        return batch


class BatchEdges:
    """PyG ``SchNet``'s ``interaction_graph`` over the padded batch's own edges, so that its
    forward sees one edge count per padded shape (its default radius graph has a new edge count
    every step): ``edges = BatchEdges(); SchNet(..., interaction_graph=edges)``, then
    ``edges.edge_index = batch.edge_index`` before each forward. Returns the edges and their
    lengths."""

    def __init__(self):
        #: the current batch's ``edge_index`` (set before each forward)
        self.edge_index = None

    def __call__(self, pos, batch):
        if self.edge_index is None:
            raise RuntimeError("BatchEdges: set .edge_index to the batch's edge_index before the forward")
        row, col = self.edge_index
        return self.edge_index, (pos[row] - pos[col]).norm(dim=-1)

    def __repr__(self) -> str:
        shape = None if self.edge_index is None else tuple(self.edge_index.shape)
        return f"BatchEdges(edge_index={shape})"


def _ahead(batches, depth: int):
    """The items of ``batches`` made on a background thread, at most ``depth`` ahead."""
    import queue
    import threading

    q: "queue.Queue" = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work():
        try:
            for b in batches:
                while not stop.is_set():
                    try:
                        q.put(b, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as e:  # handed to the loop, raised there
            q.put(e)

    t = threading.Thread(target=work, name="geobatch-prefetch", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _pyg_batch(s, real, padded):
    """The PyG ``Batch`` over one collated set of buffers (no copy)."""
    import torch
    from torch_geometric.data import Data

    nodes, edges, graphs, index = s.arrays
    n, e, g = real
    pn, pe, pg = padded
    x = s.extra
    node_graph, n_node = index["node_graph"], index["n_node"]
    last = pg - 1
    if last != g:
        # padding belongs to the last padding graph: batch.max() + 1 == pg on every batch
        node_graph[n:] = last
        n_node[last], n_node[g] = n_node[g], 0
    np.cumsum(n_node, out=x["ptr"][1:])
    x["node_mask"][:n] = True
    x["node_mask"][n:] = False
    x["edge_mask"][:e] = True
    x["edge_mask"][e:] = False
    t = torch.from_numpy
    attrs = {}
    for k, v in nodes.items():
        attrs[k] = t(v)
    for k, v in edges.items():
        attrs[k] = t(v)
    for k, v in graphs.items():
        attrs[k] = t(v)
    attrs["edge_index"] = t(s.edge_index)
    attrs["batch"] = t(node_graph)
    attrs["ptr"] = t(x["ptr"])
    attrs["node_mask"] = t(x["node_mask"])
    attrs["edge_mask"] = t(x["edge_mask"])
    attrs["graph_mask"] = t(index["graph_mask"])
    cls = _padded_batch_class()
    # made as Data() with no attributes, which then go straight into its store's mapping: PyG's
    # per-attribute __setattr__ (a cache lookup that raises and catches an exception each time)
    # and Batch's metaclass (a signature inspection per call) are most of a batch's cost, and a
    # fresh store has nothing for them to do
    batch = cls.__new__(cls)
    Data.__init__(batch)
    attrs["num_real_graphs"] = g
    batch._store._mapping.update(attrs)
    batch._num_graphs = pg
    # which attributes are per node, edge and graph: to_data_list's slices are made from it
    # when first asked for (_PaddedBatchBase), not for every batch
    batch.__dict__["_kinds"] = s.kinds
    return batch


def _as_store(dataset):
    """(store, rows) of a loader's dataset: rows maps the dataset's positions to the store's
    graphs (a subset or shuffled view of an ``InMemoryDataset``), or ``None``."""
    from .store import GraphStore

    if isinstance(dataset, GraphStore):
        return dataset, None
    data = getattr(dataset, "_data", None)
    slices = getattr(dataset, "slices", None)
    if data is not None and isinstance(slices, dict) and "edge_index" in slices:
        store = _from_in_memory(data, slices)
        rows = getattr(dataset, "_indices", None)
        if rows is not None:
            rows = np.asarray(rows.tolist() if hasattr(rows, "tolist") else list(rows), dtype=np.int64)
        return store, rows
    return _from_data_list([dataset[i] for i in range(len(dataset))]), None


def _from_in_memory(data, slices):
    """A store over an ``InMemoryDataset``'s concatenated arrays, read once without copies (PyG
    stores its edge_index local to each graph)."""
    import torch

    from .store import GraphStore

    n_edge = np.diff(slices["edge_index"].numpy())
    graphs_count = len(n_edge)
    nodes, edges, graphs, n_node = {}, {}, {}, None
    for key, sl in slices.items():
        value = data[key]
        if key == "edge_index" or not torch.is_tensor(value):
            continue  # strings (names, SMILES) stay in the dataset
        per = np.diff(sl.numpy())
        arr = value.numpy()
        if data.is_edge_attr(key):
            edges[key] = arr
        elif data.is_node_attr(key) and not (len(arr) == graphs_count and (per == 1).all() and key == "y"):
            nodes[key] = arr
            n_node = per if n_node is None else n_node
        elif (per == 1).all() and len(arr) == graphs_count:
            graphs[key] = arr
        else:
            raise ValueError(
                f"attribute {key!r}: neither one row per node, per edge nor per graph"
            )
    if n_node is None:
        raise ValueError("the dataset has no node attribute (x, z, pos...) to count its nodes by")
    return GraphStore(
        n_node, nodes=nodes, edges=edges, graphs=graphs,
        edge_index=data["edge_index"].numpy(), n_edge=n_edge, copy=False,
    )


def _from_data_list(items):
    """A store of PyG ``Data`` objects: node and edge attributes concatenated, graph attributes
    one row per graph as PyG batches them (a 0-d value a row of one number)."""
    import torch

    from .store import GraphStore

    if not items:
        raise ValueError("the dataset is empty")
    first = items[0]
    keys = [k for k in first.keys() if k != "edge_index" and torch.is_tensor(first[k])]
    node_keys = [k for k in keys if first.is_node_attr(k)]
    edge_keys = [k for k in keys if first.is_edge_attr(k)]
    graph_keys = [k for k in keys if k not in node_keys and k not in edge_keys]
    for k in graph_keys:
        if first[k].dim() > 0 and first[k].shape[0] != 1:
            raise ValueError(f"graph attribute {k!r} has {first[k].shape[0]} rows per graph, not one")

    keys = set(node_keys) | set(edge_keys) | set(graph_keys) | {"edge_index"}
    for i, d in enumerate(items):
        have = set(k for k in d.keys() if torch.is_tensor(d[k]))
        if have != keys:
            raise ValueError(
                f"Data {i} has the tensor attributes {sorted(have)}, Data 0 {sorted(keys)}: "
                "every graph of the dataset must have the same ones"
            )

    def cat(key, graph=False):
        parts = [d[key].numpy() for d in items]
        return np.stack(parts) if graph and first[key].dim() == 0 else np.concatenate(parts)

    return GraphStore(
        np.array([d.num_nodes for d in items], dtype=np.int64),
        nodes={k: cat(k) for k in node_keys},
        edges={k: cat(k) for k in edge_keys},
        graphs={k: cat(k, True) for k in graph_keys},
        edge_index=np.concatenate([d.edge_index.numpy() for d in items], axis=1),
        n_edge=np.array([d.num_edges for d in items], dtype=np.int64),
        copy=False,
    )


class _PaddedBatchBase:
    """What a padded batch changes of PyG's ``Batch``: the real graphs for ``to_data_list``,
    integer indexing and ``len``; ``num_graphs`` stays the padded count."""

    def to_data_list(self):
        return [self.get_example(i) for i in range(self.num_real_graphs)]

    @property
    def _slice_dict(self):
        """Where each graph's rows start, per attribute (PyG's, for ``get_example``): node
        attributes by ``ptr``, edge attributes and ``edge_index`` by the edges' graphs (an
        edge belongs to its sender's graph), graph attributes one row each."""
        import torch

        node_keys, edge_keys, graph_keys = self.__dict__["_kinds"]
        pg = self.num_graphs
        ptr = self.ptr
        per_graph = torch.bincount(self.batch[self.edge_index[0]], minlength=pg)
        edge_ptr = torch.cat([ptr.new_zeros(1), per_graph.cumsum(0)])
        rows = torch.arange(pg + 1, device=ptr.device)
        out = {k: ptr for k in node_keys}
        out.update({k: edge_ptr for k in edge_keys})
        out.update({k: rows for k in graph_keys})
        out["edge_index"] = edge_ptr
        return out

    @property
    def _inc_dict(self):
        """What ``get_example`` subtracts per graph: node numbers from ``edge_index``."""
        zeros = self.ptr.new_zeros(self.num_graphs)
        out = {k: zeros for k in self._slice_dict}
        out["edge_index"] = self.ptr[:-1]
        return out

    def __getitem__(self, idx):
        if isinstance(idx, (int, np.integer)) and not isinstance(idx, bool):
            g = self.num_real_graphs
            if not -g <= idx < g:
                raise IndexError(f"graph {idx} of a batch of {g} real graphs")
            return self.get_example(int(idx) % g)
        return super().__getitem__(idx)

    def __len__(self):
        return self.num_real_graphs


def _padded_batch_class():
    cls = globals().get("PaddedBatch")
    if cls is None:
        from torch_geometric.data import Batch, Data

        # what Batch(_base_cls=Data) makes (Batch's metaclass and Data's, resolved), with the
        # padded overrides first; Data last, where PyG's get_example looks for the item class
        meta = type("PaddedBatchMeta", (type(Batch), type(Data)), {})
        cls = meta("PaddedBatch", (_PaddedBatchBase, Batch, Data), {"__module__": __name__})
        globals()["PaddedBatch"] = cls
    return cls


def __getattr__(name):
    # PaddedBatch subclasses PyG's Batch: made when first asked for, so that importing
    # geobatch.torch needs neither torch nor PyG
    if name == "PaddedBatch":
        return _padded_batch_class()
    raise AttributeError(name)
