"""PyTorch helpers (torch is imported on use): a collated batch as tensors, and a padding
collate for ``torch.utils.data.DataLoader`` over PyG ``Data`` objects, so that
``torch.compile(dynamic=False)`` sees one shape per padded shape of the plan."""

from __future__ import annotations

import warnings
from typing import Any, Optional, Sequence
from weakref import ref as _weakref

import numpy as np

from .planner import Plan
from .store import pad_periodic

#: geobatch's array names that PyG (and OCP/fairchem data) spell otherwise: a ``GraphStore``'s
#: ``positions`` are a PyG batch's ``pos``
PYG_NAMES = {"positions": "pos"}


def _pyg_name(key: str, group) -> str:
    """The PyG attribute name of a store array (``positions`` -> ``pos``, unless the store has
    a ``pos`` of its own)."""
    name = PYG_NAMES.get(key, key)
    return key if name in group else name


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
    collate_fn=PadCollate())``: the PyG ``Data`` objects of a planned batch as one padded batch
    in the layout of ``geobatch.torch.DataLoader``'s (the same ``PaddedBatch`` type, tensor for
    tensor; see ``DataLoader``): the plan's padded shape plus one node, padding nodes and edges
    in the last padding graph, padding edges from the first padding node to the second (no
    self-loop), zero-padded attributes, ``ptr``, ``node_mask``, ``edge_mask``, ``graph_mask``,
    ``num_real_graphs``; index tensors int64. It joins the graphs with
    ``Batch.from_data_list`` (``DataLoader`` is the fast path)."""

    def __init__(self, shape: Optional[Sequence[int]] = None):
        #: the padded shape for data that comes without one (a one-shape batcher's budget)
        self.shape = None if shape is None else tuple(int(x) for x in shape)

    def __repr__(self) -> str:
        return f"PadCollate(shape={self.shape})"

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
        for i, item in enumerate(items):
            check_potential_data(item, i)
        tensors = [k for k in first.keys() if torch.is_tensor(first[k]) and k != "edge_index"]
        node_keys = tuple(k for k in tensors if first.is_node_attr(k))
        edge_keys = tuple(k for k in tensors if first.is_edge_attr(k))
        graph_keys = tuple(k for k in tensors if k not in node_keys and k not in edge_keys)
        joined = Batch.from_data_list(list(items))
        n, e, g = joined.num_nodes, joined.num_edges, joined.num_graphs
        if not (pn > n and pe >= e and pg > g):
            raise ValueError(f"padded shape {padded} cannot hold the batch's ({n}, {e}, {g})")
        pn += 1  # the second padding node, which padding edges point at
        last = pg - 1
        mapping = {}
        for key in node_keys:
            mapping[key] = _pad(joined[key], pn)
        for key in edge_keys:
            mapping[key] = _pad(joined[key], pe)
        for key in graph_keys:
            value = joined[key]
            mapping[key] = _pad(value if value.dim() else value.reshape(1), pg)
        # what is not a tensor in a Data, as PyG's Batch holds it: numbers as a tensor (padded
        # as graph attributes), anything else a list of the real graphs' values
        extra = [k for k in first.keys() if k != "edge_index" and not torch.is_tensor(first[k])]
        for key in extra:
            value = joined[key]
            if torch.is_tensor(value):
                mapping[key] = _pad(value if value.dim() else value.reshape(1), pg)
                graph_keys += (key,)
            else:
                mapping[key] = value
        pad_edges = torch.stack([torch.full((pe - e,), n, dtype=torch.long),
                                 torch.full((pe - e,), n + 1, dtype=torch.long)])
        mapping["edge_index"] = torch.cat([joined.edge_index.long(), pad_edges], dim=1)
        mapping["batch"] = torch.cat([joined.batch, torch.full((pn - n,), last, dtype=torch.long)])
        counts = torch.zeros(pg, dtype=torch.long)
        counts[:g] = joined.ptr[1:] - joined.ptr[:-1]
        counts[last] += pn - n
        mapping["ptr"] = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])
        mapping["graph_mask"] = torch.arange(pg) < g
        mapping["node_mask"] = torch.arange(pn) < n
        mapping["edge_mask"] = torch.arange(pe) < e
        mapping["num_real_graphs"] = g
        if "cell" in graph_keys and "cell_offsets" in edge_keys:
            pad_periodic(mapping["cell"], mapping["cell_offsets"], (n, e, g))
        return _new_padded_batch(mapping, pg, (node_keys, edge_keys, graph_keys))


#: A potential's attributes of a PyG ``Data`` (OCP/fairchem's names): rows of what, and the
#: shape of a row
_POTENTIAL_ATTRS = {"forces": ("nodes", (3,)), "cell": ("graph", (3, 3)),
                    "stress": ("graph", (3, 3)), "cell_offsets": ("edges", (3,))}


def check_potential_data(data, i: int) -> None:
    """Raises ``ValueError`` naming structure ``i`` and the attribute when a PyG ``Data``'s
    ``forces`` are not (atoms, 3), its ``cell`` or ``stress`` not (1, 3, 3) (OCP's layout: PyG
    concatenates graph attributes along the first dimension) or its ``cell_offsets`` not
    (edges, 3)."""
    for key, (per, row) in _POTENTIAL_ATTRS.items():
        value = getattr(data, key, None) if key in data.keys() else None
        if value is None or not hasattr(value, "shape"):
            continue
        rows = {"nodes": data.num_nodes, "edges": data.num_edges, "graph": 1}[per]
        want = (rows,) + row
        if tuple(value.shape) != want:
            what = {"nodes": "atoms", "edges": "edges", "graph": "1"}[per]
            raise ValueError(
                f"structure {i}: {key} has shape {tuple(value.shape)}, expected {want} "
                f"({what} x {' x '.join(map(str, row))}{', as OCP/fairchem data hold it' if per == 'graph' else ''})"
            )


def data_list(store) -> list:
    """The graphs of a ``GraphStore`` (``load_dataset``'s splits among them) as PyG ``Data``,
    one per graph, as a PyG user holds them: node arrays (``positions`` as ``pos``), edge arrays
    and ``edge_index`` (local), graph arrays as one row each (a cell ``(1, 3, 3)``, as
    OCP/fairchem data hold it); tensors share the store's memory where they can. For PyG's own
    loaders, or a check against them."""
    import torch
    from torch_geometric.data import Data

    if store.full:
        raise ValueError("data_list: a full store makes its edges at collation; give a store with stored edges")
    t = torch.from_numpy
    out = []
    for g in range(len(store)):
        a, b = int(store.node_offsets[g]), int(store.node_offsets[g + 1])
        ea, eb = int(store.edge_offsets[g]), int(store.edge_offsets[g + 1])
        attrs = {_pyg_name(k, store.nodes): t(np.ascontiguousarray(v[a:b])) for k, v in store.nodes.items()}
        attrs.update({k: t(np.ascontiguousarray(v[ea:eb])) for k, v in store.edges.items()})
        attrs.update({k: t(np.ascontiguousarray(v[g:g + 1])) for k, v in store.graphs.items()})
        edge_index = np.stack([store.senders[ea:eb], store.receivers[ea:eb]]).astype(np.int64)
        out.append(Data(edge_index=t(edge_index), **attrs))
    return out


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

    def __repr__(self) -> str:
        return f"PlannedDataset({len(self.dataset)} graphs of {type(self.dataset).__name__})"


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
    and ``load_state_dict`` are the sampler's. A loader pickles and deep-copies (also in the
    middle of a pass, with ``prefetch``) as its dataset, options and sampler where
    ``state_dict()`` stands: the copy's next pass starts at the first batch this loop did not
    take; the pass in progress (its iterator, prefetch thread and buffers) is not copied."""

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

        self.store, self._rows, self._objects = _as_store(dataset)
        sizes = self.store.sizes if self._rows is None else self.store.sizes[self._rows]
        self.sampler = BatchSampler(
            sizes, kind, batch_size, shuffle=shuffle, seed=seed, rank=rank,
            world_size=world_size, drop_last=drop_last, quirks=quirks, **options,
        )
        self.prefetch = _count(prefetch, "prefetch")
        self.pin_memory = bool(pin_memory)
        if self.pin_memory and not _accelerator():
            # as torch's DataLoader: pinning needs an accelerator, and without one it is skipped
            warnings.warn(
                "'pin_memory' argument is set as true but no accelerator is found, then device "
                "pinned memory won't be used.", UserWarning, stacklevel=2,
            )
            self.pin_memory = False
        self.device = device
        self._native = None
        self._capacity = None
        self._bound = None
        nodes, edges, graphs = (tuple(_pyg_name(k, d) for k in d)
                                for d in (self.store.nodes, self.store.edges, self.store.graphs))
        self._kinds = (nodes, edges, graphs)
        # the names of the native arrays in the batch (None: not a PyG attribute)
        self._keys = (*nodes, *edges, *graphs, "edge_index", "batch", None, None, "graph_mask",
                      "ptr", "node_mask", "edge_mask")
        # where a periodic batch's cell and cell_offsets are among the native arrays
        self._periodic = ((len(nodes) + len(edges) + graphs.index("cell"),
                           len(nodes) + edges.index("cell_offsets"))
                          if "cell" in graphs and "cell_offsets" in edges else None)
        self._taken = 0
        self._running = None  # the pass in progress: (generation, prefetch thread or None)
        self._last = None  # the sampler's generation when the latest pass started

    def __len__(self) -> int:
        return len(self.sampler)

    def set_epoch(self, epoch: int) -> None:
        """Starts epoch ``epoch`` at its first batch with the next pass (as
        ``DistributedSampler.set_epoch``). Called in the middle of a pass, the pass in progress
        runs to its end as planned; ``state_dict()`` then resumes at epoch ``epoch``'s first
        batch."""
        self.sampler.set_epoch(epoch)

    def state_dict(self) -> dict:
        """Where the loop stands: the batches it took from the current pass (prefetched ones not
        counted); after ``set_epoch`` or ``load_state_dict`` in the middle of a pass, where they
        put the sampler."""
        # set_epoch or load_state_dict since the latest pass started (during it or after it)
        # put the sampler where it stands now; else it stands where this loop's batches took it
        if self._last is None or self._last != self.sampler._generation:
            return self.sampler.state_dict()
        return self.sampler.state_dict(consumed=self._taken)

    def load_state_dict(self, state: dict) -> None:
        """Continues after the batches ``state`` counts."""
        self.sampler.load_state_dict(state)

    def __repr__(self) -> str:
        return f"geobatch.torch.DataLoader({self.sampler!r}, prefetch={self.prefetch})"

    #: what a loader holds only while it runs: the native collator (its buffers), the plan bound
    #: to it, the pass in progress (its prefetch thread, whose lock cannot be pickled)
    _RUNNING = ("_native", "_capacity", "_bound", "_running", "_taken", "_last", "_owner")

    def __getstate__(self) -> dict:
        # a loader pickles (pickle, copy.deepcopy, multiprocessing) as its dataset, options and
        # sampler, standing where state_dict() says: a pass in progress, its prefetch thread
        # and its collator are not copied, the copy starts its next pass at the first batch
        # this loop did not take
        state = {k: v for k, v in self.__dict__.items() if k not in self._RUNNING}
        state["_where"] = self.state_dict()
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        where = state.pop("_where", None)
        self.__dict__.update(state)
        self._native = self._capacity = self._bound = self._running = self._last = None
        self._taken = 0
        if where is not None:
            self.sampler.load_state_dict(where)

    def __iter__(self):
        import threading

        # one pass at a time, as one sampler position: a pass another thread is iterating is
        # not cut short (or mixed with this one) by a second loop
        owner = getattr(self, "_owner", None)
        if self._running is not None and owner is not None and owner != threading.get_ident():
            raise RuntimeError(
                "geobatch.torch.DataLoader: another thread is iterating a pass of this loader; "
                "a loader is one loop's (one sampler position, as torch's with a stateful "
                "sampler): make one loader per thread (copy.deepcopy(loader) gives one at this "
                "position), or let the other pass end first"
            )
        self._owner = threading.get_ident()
        # a pass broken out of whose iterator is still alive: its prefetch thread is stopped
        # (and the sampler put back to what its loop took) before this pass starts
        self._stop()
        plan, steps = self.sampler._pass_steps()
        native, bound = self._bind(plan)
        generation = self.sampler._generation
        self._taken = 0
        self._last = generation
        make = self._make
        if self.prefetch:
            ahead = _Prefetch((make(native, bound, b, plan) for b in steps), self.prefetch)
            self._running = (generation, ahead)
            batches = iter(ahead)
        else:
            self._running = (generation, None)
            batches = (make(native, bound, b, plan) for b in steps)
        return self._pass(batches, generation)

    def _pass(self, batches, generation):
        try:
            for batch in batches:
                self._taken += 1
                yield batch
        finally:
            running = self._running
            if running is not None and running[0] == generation:
                self._stop()

    def _stop(self) -> None:
        """Stops the pass in progress (its prefetch thread joined) and puts the sampler back to
        the batches its loop took."""
        running, self._running = self._running, None
        if running is None:
            return
        generation, ahead = running
        if ahead is not None:
            ahead.close()
        self.sampler._rewind(generation, self._taken)

    def _bind(self, plan):
        """The native collator (made again only when a plan's shapes outgrow it) and the plan
        bound to it: graph numbers of the store (a subset's mapped through its rows); made once
        per plan."""
        if self._bound is not None and self._bound[0] is plan:
            return self._bound[1], self._bound[2]
        from .store import _native_collator

        capacity = tuple(int(x) for x in plan.padded.max(axis=0))
        if self._capacity is None or any(c > h for c, h in zip(capacity, self._capacity)):
            if self._capacity is not None:
                capacity = tuple(max(c, h) for c, h in zip(capacity, self._capacity))
            self._native = _native_collator(self.store, capacity, np.int64, pyg=True,
                                            max_free=self.prefetch + 4)
            self._capacity = capacity
        indices = plan.indices if self._rows is None else self._rows[plan.indices]
        bound = self._native.bind(np.ascontiguousarray(indices, dtype=np.int64), plan.offsets, plan.padded)
        self._bound = (plan, self._native, bound)
        return self._native, bound

    @property
    def buffers(self) -> int:
        """Buffers of batches held: out with batches still alive, and kept free."""
        n = self._native
        return 0 if n is None else n.leased + n.free

    def _make(self, native, bound, b: int, plan):
        real, padded, arrays = native.collate_bound(bound, b)
        if self._periodic is not None:
            pad_periodic(arrays[self._periodic[0]], arrays[self._periodic[1]], real)
        objects = None
        if self._objects:  # PyG's way: a list of the real graphs' values
            graphs = plan.indices[plan.offsets[b]:plan.offsets[b + 1]].tolist()
            objects = {k: [v[g] for g in graphs] for k, v in self._objects.items()}
        batch = _pyg_batch(self._keys, self._kinds, arrays, real, padded, objects)
        if self.pin_memory:
            batch = batch.pin_memory()
        if self.device is not None:
            batch = batch.to(self.device, non_blocking=self.pin_memory)
        return batch


def _accelerator() -> bool:
    """Whether torch sees a device that pinned memory is for (CUDA, or torch's accelerator)."""
    import torch

    acc = getattr(torch, "accelerator", None)
    if acc is not None and hasattr(acc, "is_available"):
        return bool(acc.is_available())
    return bool(torch.cuda.is_available())


class BatchEdges:
    """PyG ``SchNet``'s ``interaction_graph`` over the padded batch's own edges, so that its
    forward sees one edge count per padded shape (its default radius graph has a new edge count
    every step): ``edges = BatchEdges(); SchNet(..., interaction_graph=edges)``, then
    ``edges.use(batch)`` (or ``edges.edge_index = batch.edge_index``) before each forward.
    Returns the edges and their lengths: ``|pos[j] - pos[i]|`` for ``edge_index = (j, i)``, or,
    for a batch with ``cell_offsets`` and ``cell``, the periodic ``|pos[j] + S . cell - pos[i]|``
    (OCP's ``get_pbc_distances``), a function of ``pos`` that autograd differentiates (forces
    as ``-dE/dpos``)."""

    def __init__(self):
        #: the current batch's ``edge_index`` (set before each forward)
        self.edge_index = None
        #: the current batch's per-edge integer image shifts, or ``None`` (no periodic images)
        self.cell_offsets = None
        #: the current batch's per-graph cells (graphs x 3 x 3), with ``cell_offsets``
        self.cell = None

    def use(self, batch) -> "BatchEdges":
        """Takes ``edge_index``, and ``cell_offsets`` and ``cell`` where the batch has them."""
        self.edge_index = batch.edge_index
        offsets = getattr(batch, "cell_offsets", None)
        self.cell_offsets = offsets
        self.cell = None if offsets is None else batch.cell
        return self

    def __call__(self, pos, batch):
        if self.edge_index is None:
            raise RuntimeError("BatchEdges: call .use(batch) (or set .edge_index) before the forward")
        row, col = self.edge_index
        vec = pos[row] - pos[col]
        if self.cell_offsets is not None:
            torch = _torch()
            cell = self.cell.to(pos.dtype)[batch[row]]
            vec = vec + torch.einsum("ei,eij->ej", self.cell_offsets.to(pos.dtype), cell)
        return self.edge_index, vec.norm(dim=-1)

    def __repr__(self) -> str:
        shape = None if self.edge_index is None else tuple(self.edge_index.shape)
        periodic = "" if self.cell_offsets is None else ", periodic"
        return f"BatchEdges(edge_index={shape}{periodic})"


class _Prefetch:
    """The items of ``batches`` made on a background thread, at most ``depth`` ahead.
    ``close()`` stops the thread and waits for it: nothing it was making outlives the pass."""

    def __init__(self, batches, depth: int):
        import queue
        import threading

        self._queue: "queue.Queue" = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = object()
        self._thread = threading.Thread(target=self._work, args=(batches,), name="geobatch-prefetch",
                                        daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        import queue

        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _work(self, batches):
        try:
            for b in batches:
                if not self._put(b):
                    return
            self._put(self._done)
        except BaseException as e:  # handed to the loop, raised there
            self._put(e)

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is self._done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        import queue

        self._stop.set()
        self._thread.join()
        while True:  # the batches made ahead go back to the collator
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put_nowait(self._done)  # an iterator of this pass still in use ends


def _pyg_batch(keys, kinds, arrays, real, padded, objects=None):
    """The PyG ``Batch`` over one natively collated batch in PyG's layout (no copy), with the
    real graphs' non-numeric attributes as lists (``objects``)."""
    t = _torch().from_numpy
    mapping = {k: t(a) for k, a in zip(keys, arrays) if k is not None}
    if objects:
        mapping.update(objects)
    mapping["num_real_graphs"] = real[2]
    return _new_padded_batch(mapping, padded[2], kinds)


def _torch():
    """torch, imported once it is needed (geobatch.torch imports without it)."""
    global _torch_module
    if _torch_module is None:
        import torch

        _torch_module = torch
    return _torch_module


_torch_module = None


def _new_padded_batch(mapping: dict, graphs: int, kinds):
    """A ``PaddedBatch`` holding ``mapping`` (attribute name -> tensor), of ``graphs`` padded
    graphs, ``kinds`` the node, edge and graph attribute names. Made as ``Data()`` would make an
    empty one (its store, with a weak reference to the batch; the attribute classes), with the
    attributes put straight into the store's mapping: PyG's per-attribute ``__setattr__`` (a
    cache lookup that raises and catches an exception each time), ``Data.__init__``'s calls and
    ``Batch``'s metaclass (a signature inspection per call) are most of a batch's cost
    otherwise, and a fresh store has nothing for them to do (tested against PyG's API)."""
    cls = PaddedBatch if "PaddedBatch" in globals() else _padded_batch_class()
    store_cls, edge_attr, tensor_attr = cls._geobatch_empty
    batch = cls.__new__(cls)
    store = store_cls.__new__(store_cls)
    store.__dict__["_mapping"] = mapping
    store.__dict__["_parent"] = _weakref(batch)
    d = batch.__dict__
    d["_edge_attr_cls"] = edge_attr
    d["_tensor_attr_cls"] = tensor_attr
    d["_store"] = store
    d["_num_graphs"] = graphs
    # which attributes are per node, edge and graph: to_data_list's slices are made from it
    # when first asked for (_PaddedBatchBase), not for every batch
    d["_kinds"] = kinds
    return batch


def _as_store(dataset):
    """(store, rows, objects) of a loader's dataset: rows maps the dataset's positions to the
    store's graphs (a subset or shuffled view of an ``InMemoryDataset``), or ``None``; objects
    the non-numeric attributes of a list of ``Data`` (name -> one value per graph)."""
    from .store import GraphStore

    if isinstance(dataset, GraphStore):
        return dataset, None, {}
    data = getattr(dataset, "_data", None)
    slices = getattr(dataset, "slices", None)
    if data is not None and isinstance(slices, dict) and "edge_index" in slices:
        store = _from_in_memory(data, slices)
        rows = getattr(dataset, "_indices", None)
        if rows is not None:
            rows = np.asarray(rows.tolist() if hasattr(rows, "tolist") else list(rows), dtype=np.int64)
        return store, rows, {}
    store, objects = _from_data_list([dataset[i] for i in range(len(dataset))])
    return store, None, objects


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
            if n_node is not None and not np.array_equal(per, n_node):
                g = int(np.argwhere(per != n_node)[0, 0])
                raise ValueError(
                    f"structure {g}: {key} has {int(per[g])} rows, its other node attributes "
                    f"{int(n_node[g])}"
                )
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

    # attributes that are not tensors, as PyG batches them: numbers one per graph (a tensor),
    # anything else (SMILES strings, names) a list of the batch's real graphs
    others = [k for k in first.keys() if k != "edge_index" and not torch.is_tensor(first[k])]
    numbers_of, objects = {}, {}
    for k in others:
        values = []
        for i, d in enumerate(items):
            if k not in d.keys():
                raise ValueError(f"Data {i} has no {k!r}, Data 0 has: every graph must have the same attributes")
            values.append(d[k])
        if all(isinstance(v, (bool, int, float, np.number, np.bool_)) for v in values):
            numbers_of[k] = np.asarray(values)
        else:
            objects[k] = values

    keys = set(node_keys) | set(edge_keys) | set(graph_keys) | {"edge_index"}
    for i, d in enumerate(items):
        check_potential_data(d, i)
        have = set(k for k in d.keys() if torch.is_tensor(d[k]))
        if have != keys:
            raise ValueError(
                f"Data {i} has the tensor attributes {sorted(have)}, Data 0 {sorted(keys)}: "
                "every graph of the dataset must have the same ones"
            )

    def cat(key, graph=False):
        parts = [d[key].numpy() for d in items]
        return np.stack(parts) if graph and first[key].dim() == 0 else np.concatenate(parts)

    store = GraphStore(
        np.array([d.num_nodes for d in items], dtype=np.int64),
        nodes={k: cat(k) for k in node_keys},
        edges={k: cat(k) for k in edge_keys},
        graphs={**{k: cat(k, True) for k in graph_keys}, **numbers_of},
        edge_index=np.concatenate([d.edge_index.numpy() for d in items], axis=1),
        n_edge=np.array([d.num_edges for d in items], dtype=np.int64),
        copy=False,
    )
    return store, objects


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
        # a list of the real graphs' values (strings, objects): PyG takes element i for graph i
        out.update({k: rows for k, v in self._store._mapping.items() if isinstance(v, list)})
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

    def __reduce__(self):
        # PyG's Batch pickles as its class's bases, which only PyG's own batch classes are
        # made from: a padded batch pickles as itself (torch.save, multiprocessing queues)
        return _rebuild_padded_batch, (self.__dict__.copy(),)


def _rebuild_padded_batch(state):
    """A ``PaddedBatch`` from its pickled state."""
    cls = _padded_batch_class()
    batch = cls.__new__(cls)
    batch.__setstate__(state)
    return batch


def _padded_batch_class():
    cls = globals().get("PaddedBatch")
    if cls is None:
        from torch_geometric.data import Batch, Data

        # what Batch(_base_cls=Data) makes (Batch's metaclass and Data's, resolved), with the
        # padded overrides first; Data last, where PyG's get_example looks for the item class
        meta = type("PaddedBatchMeta", (type(Batch), type(Data)), {})
        cls = meta("PaddedBatch", (_PaddedBatchBase, Batch, Data), {"__module__": __name__})
        # what an empty Data holds besides its store: made once, checked to be only that
        empty = Data()
        extra = set(empty.__dict__) - {"_store", "_edge_attr_cls", "_tensor_attr_cls"}
        if extra or set(empty._store.__dict__) != {"_mapping", "_parent"}:
            raise RuntimeError(f"this PyG's Data holds {sorted(empty.__dict__)}: geobatch.torch knows "
                               "PyG 2.4-2.6's; please report it")
        cls._geobatch_empty = (type(empty._store), empty._edge_attr_cls, empty._tensor_attr_cls)
        globals()["PaddedBatch"] = cls
    return cls


def _masked_batch_norm_class():
    cls = globals().get("MaskedBatchNorm")
    if cls is not None:
        return cls
    import torch

    class MaskedBatchNorm(torch.nn.BatchNorm1d):
        """``torch.nn.BatchNorm1d`` over the real rows of a padded batch: in training, the batch
        statistics (and the running ones it updates) are those of the rows where ``mask`` is
        true, so real outputs do not depend on the padding; in evaluation it is BatchNorm1d
        (running statistics, row by row). ``forward(x, mask)`` with ``x`` (rows, features) and
        ``mask`` (rows,) bool, e.g. ``batch.node_mask``; or set ``.mask`` before the forward
        of a model that calls ``norm(x)`` (as ``BatchEdges``). Padding rows come out as zero
        rows normalised with the real rows' statistics: mask them out of the loss.

        Padding values never enter: they are selected out (``torch.where``), not multiplied by
        zero, so NaN, inf or huge values in padding rows change no output (the padding rows'
        included), no gradient and no running statistic. A batch with no real row
        (``mask`` all false) leaves the running statistics and ``num_batches_tracked`` as they
        were, and normalises with mean 0 and variance 0. Static shapes, no branch on values:
        compiles once (one graph) under ``torch.compile(dynamic=False)``."""

        def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1,
                     affine: bool = True, track_running_stats: bool = True, device=None, dtype=None):
            super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
            #: the real rows of the next forward's input, when the forward is not given one
            self.mask = None

        def forward(self, x, mask=None):
            mask = self.mask if mask is None else mask
            if mask is None or x.dim() != 2:
                if mask is not None:
                    raise ValueError(f"MaskedBatchNorm: x must be (rows, features), got {tuple(x.shape)}")
                return super().forward(x)
            if tuple(mask.shape) != tuple(x.shape[:1]):
                raise ValueError(
                    f"MaskedBatchNorm: mask has shape {tuple(mask.shape)}, x has {x.shape[0]} rows: "
                    f"give one bool per row, ({x.shape[0]},)"
                )
            # padding rows are selected out, never multiplied by zero (0 * NaN and 0 * inf are
            # NaN): whatever they hold reaches no real output, gradient or statistic
            keep = mask.to(torch.bool).unsqueeze(-1)
            x = torch.where(keep, x, 0.0)
            if not self.training and self.track_running_stats:
                return super().forward(x)
            count = keep.sum(0).to(x.dtype)  # (1,): the real rows
            n = count.clamp_min(1)
            mean = x.sum(0) / n
            dev = torch.where(keep, x - mean, 0.0)
            var = (dev * dev).sum(0) / n
            if self.training and self.track_running_stats:
                with torch.no_grad():
                    # a batch without a real row has no statistics: nothing is updated or counted
                    # (tensor arithmetic, no branch on values: one graph under torch.compile)
                    real = count > 0
                    tracked = self.num_batches_tracked
                    tracked.add_(real.to(tracked.dtype).squeeze(0))
                    if self.momentum is None:
                        factor = 1.0 / tracked.clamp_min(1).to(x.dtype)
                    else:
                        factor = self.momentum
                    unbiased = var * count / (count - 1).clamp_min(1)
                    self.running_mean.copy_(torch.where(
                        real, self.running_mean * (1 - factor) + factor * mean, self.running_mean))
                    self.running_var.copy_(torch.where(
                        real, self.running_var * (1 - factor) + factor * unbiased, self.running_var))
            out = (x - mean) * torch.rsqrt(var + self.eps)
            if self.affine:
                out = out * self.weight + self.bias
            return out

    # pickled (torch.save of a model) as geobatch.torch.MaskedBatchNorm, which __getattr__ gives
    MaskedBatchNorm.__module__ = __name__
    MaskedBatchNorm.__qualname__ = "MaskedBatchNorm"
    globals()["MaskedBatchNorm"] = MaskedBatchNorm
    return MaskedBatchNorm


def __getattr__(name):
    # PaddedBatch subclasses PyG's Batch and MaskedBatchNorm torch's BatchNorm1d: made when
    # first asked for, so that importing geobatch.torch needs neither torch nor PyG
    if name == "PaddedBatch":
        return _padded_batch_class()
    if name == "MaskedBatchNorm":
        return _masked_batch_norm_class()
    raise AttributeError(name)
