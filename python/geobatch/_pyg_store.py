"""PyG data as geobatch reads it (``geobatch.torch``): a loader's dataset (a list of
``Data``, an ``InMemoryDataset``, a ``GraphStore``) as one store, each ``Data`` checked as
``_pyg_arrays.check_potential_data`` says."""

from __future__ import annotations

import numpy as np

from ._pyg_arrays import check_potential_data

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
