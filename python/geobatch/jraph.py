"""``jraph.GraphsTuple`` from a collated batch (jraph is imported on use)."""

from __future__ import annotations


def graphs_tuple(batch):
    """A ``jraph.GraphsTuple`` whose arrays are the batch's NumPy views: ``nodes`` and ``edges``
    are dicts of the store's named arrays (``None`` when empty), ``globals`` the graph arrays.
    jraph's padding helpers (``get_graph_padding_mask`` ...) apply as to its own padded
    graphs."""
    import jraph

    return jraph.GraphsTuple(
        nodes=dict(batch.nodes) or None,
        edges=dict(batch.edges) or None,
        globals=dict(batch.graphs) or None,
        senders=batch.senders,
        receivers=batch.receivers,
        n_node=batch.n_node,
        n_edge=batch.n_edge,
    )
