"""PyG data and torch tensors as plain arrays (torch is imported on use): the check of a
potential's attributes of a PyG ``Data`` in OCP/fairchem's layout, and a collated batch's arrays
as tensors. A leaf of the package: ``GraphStore``, ``PaddedBatch`` and ``geobatch.torch`` build
on it, it imports none of them."""

from __future__ import annotations


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
