"""PyTorch helpers (torch is imported on use): a collated batch as tensors, and a padding
collate for ``torch.utils.data.DataLoader`` over PyG ``Data`` objects, so that
``torch.compile(dynamic=False)`` sees one shape per padded shape of the plan."""

from __future__ import annotations

from typing import Any, Optional, Sequence


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
