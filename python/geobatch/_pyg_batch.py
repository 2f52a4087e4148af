"""The padded PyG batch of ``geobatch.torch`` (a ``PaddedBatch``: PyG's ``Batch`` made
without its per-attribute costs, whose ``to_data_list``, indexing and ``len`` see the real
graphs), made when first asked for, so that importing geobatch needs neither torch nor PyG. The


class is ``geobatch.torch.PaddedBatch`` to users and to pickle."""

from __future__ import annotations

from weakref import ref as _weakref

import numpy as np


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
    cls = _padded_batch_class()
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


#: the class, once made
_CLASS = None


def _padded_batch_class():
    """``PaddedBatch``: made on first use from this PyG's ``Batch`` and ``Data``."""
    global _CLASS
    cls = _CLASS
    if cls is None:
        from torch_geometric.data import Batch, Data

        # what Batch(_base_cls=Data) makes (Batch's metaclass and Data's, resolved), with the
        # padded overrides first; Data last, where PyG's get_example looks for the item class
        meta = type("PaddedBatchMeta", (type(Batch), type(Data)), {})
        cls = meta("PaddedBatch", (_PaddedBatchBase, Batch, Data), {"__module__": "geobatch.torch"})
        # what an empty Data holds besides its store: made once, checked to be only that
        empty = Data()
        extra = set(empty.__dict__) - {"_store", "_edge_attr_cls", "_tensor_attr_cls"}
        if extra or set(empty._store.__dict__) != {"_mapping", "_parent"}:
            raise RuntimeError(f"this PyG's Data holds {sorted(empty.__dict__)}: geobatch.torch knows "
                               "PyG 2.4-2.6's; please report it")
        cls._geobatch_empty = (type(empty._store), empty._edge_attr_cls, empty._tensor_attr_cls)
        _CLASS = cls
    return cls
