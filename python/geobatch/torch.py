"""PyTorch helpers (torch is imported on use): a collated batch as tensors, and a padding
collate for ``torch.utils.data.DataLoader`` over PyG ``Data`` objects, so that
``torch.compile(dynamic=False)`` sees one shape per padded shape of the plan."""

from __future__ import annotations

import threading
import warnings
from typing import Any, Optional, Sequence

import numpy as np

from ._masked_norm import _masked_batch_norm_class
from ._prefetch import _Prefetch
from ._pyg_arrays import check_potential_data, tensors  # noqa: F401  (geobatch.torch's names)
from ._pyg_batch import _padded_batch_class, _pyg_batch, _torch
from ._pyg_batch import _rebuild_padded_batch  # noqa: F401  (pickles of older geobatch's batches name it here)
from ._pyg_store import _as_store, _from_data_list
from .store import _native_collator, pad_periodic

#: geobatch's array names that PyG (and OCP/fairchem data) spell otherwise: a ``GraphStore``'s
#: ``positions`` are a PyG batch's ``pos``
PYG_NAMES = {"positions": "pos"}


def _pyg_name(key: str, group) -> str:
    """The PyG attribute name of a store array (``positions`` -> ``pos``, unless the store has
    a ``pos`` of its own)."""
    name = PYG_NAMES.get(key, key)
    return key if name in group else name


class PadCollate:
    """``collate_fn`` for ``DataLoader(PlannedDataset(dataset), batch_sampler=BatchSampler(...),
    collate_fn=PadCollate())``: the PyG ``Data`` objects of a planned batch as one padded batch
    in the layout of ``geobatch.torch.DataLoader``'s (the same ``PaddedBatch`` type, tensor for
    tensor; see ``DataLoader``): the plan's padded shape plus one node, padding nodes and edges
    in the last padding graph, padding edges from the first padding node to the second (no
    self-loop), zero-padded attributes, ``ptr``, ``node_mask``, ``edge_mask``, ``graph_mask``,
    ``num_real_graphs``; index tensors int64. It is ``DataLoader``'s own collation, over a store
    of the batch's graphs made for the call (``DataLoader``, which makes its store once, is the
    fast path): one writer of the layout. Attributes are joined as ``DataLoader`` joins them
    (``edge_index`` offset per graph; a ``Data`` subclass's own ``__inc__`` is not consulted)."""

    def __init__(self, shape: Optional[Sequence[int]] = None):
        #: the padded shape for data that comes without one (a one-shape batcher's budget)
        self.shape = None if shape is None else tuple(int(x) for x in shape)

    def __repr__(self) -> str:
        return f"PadCollate(shape={self.shape})"

    def __call__(self, items):
        padded = getattr(items, "padded", None) or self.shape
        if padded is None:
            raise ValueError(
                "PadCollate needs the plan's padded shape: wrap the dataset in "
                "geobatch.torch.PlannedDataset, or give PadCollate(shape=...)"
            )
        # the loader's own collation over a store of these graphs: one layout, one writer
        store, objects = _from_data_list(list(items))
        (n, e), g = (int(x) for x in store.sizes.sum(axis=0)), len(store)
        shape = tuple(int(x) for x in padded)
        if not (shape[0] > n and shape[1] >= e and shape[2] > g):
            raise ValueError(f"padded shape {shape} cannot hold the batch's ({n}, {e}, {g})")
        native = _native_collator(store, shape, np.int64, pyg=True, max_free=1)
        bound = native.bind(np.arange(g, dtype=np.int64), np.array([0, g], dtype=np.int64),
                            np.array([shape], dtype=np.int64))
        return _PygLayout(store, objects).batch(native, bound, 0, range(g))


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
    ``batch_size`` and the batcher's options choose a registered batcher as in a config's
    ``[batcher]`` table; they and ``shuffle``, ``seed``, ``rank``/``world_size``, ``drop_last``
    and ``quirks`` go to the ``BatchSampler`` the loader plans with (``loader.sampler``), with
    its defaults and its checks. ``prefetch=k`` collates k batches ahead on a background thread (the
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
        prefetch: int = 0,
        pin_memory: bool = False,
        device: Any = None,
        **sampler_options,
    ):
        from .planner import _count
        from .sampler import BatchSampler

        self.store, self._rows, self._objects = _as_store(dataset)
        sizes = self.store.sizes if self._rows is None else self.store.sizes[self._rows]
        self.sampler = BatchSampler(sizes, kind, batch_size, **sampler_options)
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
        self._layout = _PygLayout(self.store, self._objects)
        self._taken = 0
        self._running = None  # the pass in progress: (generation, prefetch thread or None)
        self._last = None  # the sampler's generation when the latest pass started
        # one thread at a time starts or ends a pass (re-entered when an earlier pass's iterator
        # is finalised while this thread starts one)
        self._guard = threading.RLock()

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
    _RUNNING = ("_native", "_capacity", "_bound", "_running", "_taken", "_last", "_owner", "_guard")

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
        for old in ("_keys", "_kinds", "_periodic"):  # a loader pickled by geobatch before _PygLayout
            state.pop(old, None)
        self.__dict__.update(state)
        if "_layout" not in state:
            self._layout = _PygLayout(self.store, self._objects)
        self._native = self._capacity = self._bound = self._running = self._last = None
        self._taken = 0
        self._guard = threading.RLock()
        if where is not None:
            self.sampler.load_state_dict(where)

    def __iter__(self):
        # one pass at a time, as one sampler position: a pass another thread is iterating is
        # not cut short (or mixed with this one) by a second loop. The check and the claim are
        # one step under the loader's lock: threads calling iter() at once get one pass and
        # refusals, never two passes over one sampler position
        with self._guard:
            owner = getattr(self, "_owner", None)
            if self._running is not None and owner is not None and owner != threading.get_ident():
                raise RuntimeError(
                    "geobatch.torch.DataLoader: another thread is iterating a pass of this "
                    "loader; a loader is one loop's (one sampler position, as torch's with a "
                    "stateful sampler): make one loader per thread (copy.deepcopy(loader) gives "
                    "one at this position), or let the other pass end first"
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
            with self._guard:
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
        # a Data's non-numeric attributes are looked up by its position in the dataset
        graphs = plan.indices[plan.offsets[b]:plan.offsets[b + 1]].tolist() if self._objects else ()
        batch = self._layout.batch(native, bound, b, graphs)
        if self.pin_memory:
            batch = batch.pin_memory()
        if self.device is not None:
            batch = batch.to(self.device, non_blocking=self.pin_memory)
        return batch


class _PygLayout:
    """How a store's batches, natively collated in PyG's layout, become PyG batches (for
    ``DataLoader`` and ``PadCollate`` alike): the attributes' PyG names and kinds (node, edge,
    graph), where a periodic batch's ``cell`` and ``cell_offsets`` are among the arrays, and the
    non-numeric attributes (name -> one value per graph) carried as lists."""

    def __init__(self, store, objects: dict):
        nodes, edges, graphs = (tuple(_pyg_name(k, d) for k in d) for d in (store.nodes, store.edges, store.graphs))
        self.kinds = (nodes, edges, graphs)
        # the names of the native arrays in the batch (None: not a PyG attribute)
        self.keys = (*nodes, *edges, *graphs, "edge_index", "batch", None, None, "graph_mask",
                     "ptr", "node_mask", "edge_mask")
        self.periodic = ((len(nodes) + len(edges) + graphs.index("cell"), len(nodes) + edges.index("cell_offsets"))
                         if "cell" in graphs and "cell_offsets" in edges else None)
        self.objects = objects

    def batch(self, native, bound, b: int, graphs: Sequence[int]):
        """Batch ``b`` of the plan ``bound`` to ``native``, ``graphs`` its graphs' positions
        (for the non-numeric attributes)."""
        real, padded, arrays = native.collate_bound(bound, b)
        if self.periodic is not None:
            pad_periodic(arrays[self.periodic[0]], arrays[self.periodic[1]], real)
        objects = {k: [v[g] for g in graphs] for k, v in self.objects.items()} if self.objects else None
        return _pyg_batch(self.keys, self.kinds, arrays, real, padded, objects)


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


def __getattr__(name):
    # PaddedBatch subclasses PyG's Batch and MaskedBatchNorm torch's BatchNorm1d: made when
    # first asked for, so that importing geobatch.torch needs neither torch nor PyG
    if name == "PaddedBatch":
        return _padded_batch_class()
    if name == "MaskedBatchNorm":
        return _masked_batch_norm_class()
    raise AttributeError(name)
