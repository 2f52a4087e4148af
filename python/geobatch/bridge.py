"""What a geobatch Python model sees: the padded batch, the build context, and conversions.

geobatch (the `python` model plugin) runs a user module in a worker process and hands it every
padded batch as NumPy arrays that are read-only views of a shared-memory segment: no array is
copied or serialised on the way into Python. The views are valid only during the call that
receives them (the next batch is written over them): copy what must be kept.

Graph batches (``GraphBatch``; jraph's ``pad_with_graphs`` layout): real graphs first,
concatenated; the first padding graph owns every padding node and edge; padding edges point from
and to the first padding node; padding features are zero. Edges are sorted by receiver, padding
edges last. Index arrays are int32.

Node batches (``NodeBatch``, node-level tasks): a subgraph of one large graph as a local CSR
matrix, not padded (a module for a shape-specialising compiler pads it itself).

Needs only NumPy; ``to_jraph`` needs jraph and ``to_torch`` needs PyTorch, imported on use.
"""

from __future__ import annotations

import warnings

import numpy as np

#: (name, dtype, trailing shape) of every array of a graph batch, in the order geobatch writes
#: them. The leading dimension is nodes, edges or graphs (targets: graphs x n_targets); a name in
#: the trailing shape is one of the batch's scalars.
ARRAYS = (
    ("species", np.int32, ()),
    ("positions", np.float32, (3,)),
    ("node_graph", np.int32, ()),
    ("senders", np.int32, ()),
    ("receivers", np.int32, ()),
    ("edge_vectors", np.float32, (3,)),
    ("n_node", np.int32, ()),
    ("n_edge", np.int32, ()),
    ("targets", np.float32, ("n_targets",)),
    ("graph_mask", np.bool_, ()),
)

#: The same for a node batch (node-level tasks). Global ids and local indices are int32 views of
#: geobatch's uint32 arrays (graphs have fewer than 2^31 nodes).
NODE_ARRAYS = (
    ("nodes", np.int32, ()),
    ("features", np.float32, ("n_features",)),
    ("row_ptr", np.int32, ()),
    ("rows", np.int32, ()),
    ("cols", np.int32, ()),
    ("values", np.float32, ()),
    ("mean_values", np.float32, ()),
    ("out_mask", np.bool_, ()),
    ("outputs", np.int32, ()),
    ("labels", np.int32, ()),
    ("out_rows", np.int32, ()),
    ("out_cols", np.int32, ()),
    ("out_values", np.float32, ()),
    ("out_mean_values", np.float32, ()),
)


class GraphBatch:
    """One padded batch of graphs.

    Attributes (NumPy arrays, read-only views):
        species: (nodes,) species class of every node (padding: 0).
        positions: (nodes, 3) positions in Angstrom (padding: 0).
        node_graph: (nodes,) graph of every node within the batch.
        senders, receivers: (edges,) absolute node indices; receivers non-decreasing.
        edge_vectors: (edges, 3) receiver minus sender position, periodic shift included.
        n_node, n_edge: (graphs,) nodes and edges per graph, padding graphs included.
        targets: (graphs, n_targets) raw targets in their own units (padding: 0).
        graph_mask: (graphs,) True for real graphs.
    Plain attributes:
        real, padded: (nodes, edges, graphs) of the real content and of the padded shape.
        n_targets: targets per graph.
    """

    def __init__(self, arrays: dict, real, padded, n_targets: int):
        for name, value in arrays.items():
            setattr(self, name, value)
        self.real = tuple(real)
        self.padded = tuple(padded)
        self.n_targets = int(n_targets)

    @property
    def shape(self):
        """The padded (nodes, edges, graphs): what a shape-specialising compiler keys on."""
        return self.padded

    @property
    def real_graphs(self) -> int:
        """Number of real graphs (they come first)."""
        return self.real[2]

    def arrays(self) -> dict:
        """Every array by name."""
        return {name: getattr(self, name) for name, _, _ in ARRAYS}


class NodeBatch:
    """One batch of a node-level task: the subgraph of the batch's nodes (or the batcher's sampled
    part of it, plus every node's self-loop) as a local CSR matrix, and its output nodes.

    Attributes (NumPy arrays, read-only views):
        nodes: (nodes,) global id of every local node, ascending.
        features: (nodes, n_features) input features.
        row_ptr: (nodes + 1,) CSR row pointers into the entry arrays.
        rows, cols: (entries,) receiver and sender of every kept adjacency entry (local indices;
            rows non-decreasing; self-loops included).
        values: (entries,) the full graph's D^-1 A value of the entry, 1 / deg(row) in the whole
            graph (not renormalised to the batch): what GCN propagates with.
        mean_values: (entries,) 1 / (kept entries of the row): the in-batch mean (GraphSAGE).
        out_mask: (nodes,) True for output nodes.
        outputs: (outputs,) local index of every output node, ascending.
        labels: (outputs,) class of every output node, -1 where unlabelled (no loss there).
        out_rows, out_cols, out_values, out_mean_values: the entries of the output nodes' rows
            only, with the row as an index into ``outputs`` (for a last layer that computes the
            outputs alone).
    Plain attributes:
        real, padded: (nodes, entries, outputs), equal: node batches are not padded.
        n_features, n_classes: widths; full_entries: the local nodes' entries in the whole graph
            (kept and dropped).
    """

    def __init__(self, arrays: dict, scalars: dict):
        for name, value in arrays.items():
            setattr(self, name, value)
        self.real = tuple(scalars["real"])
        self.padded = tuple(scalars["padded"])
        self.n_features = int(scalars["n_features"])
        self.n_classes = int(scalars["n_classes"])
        self.full_entries = int(scalars["full_entries"])

    @property
    def shape(self):
        """(nodes, entries, outputs)."""
        return self.padded

    @property
    def n_outputs(self) -> int:
        """Number of output nodes."""
        return self.real[2]

    def arrays(self) -> dict:
        """Every array by name."""
        return {name: getattr(self, name) for name, _, _ in NODE_ARRAYS}


class Context:
    """What a model is built from (the module's ``build(ctx)`` receives one).

    Attributes of every task:
        task: ``"graph"`` (regression over many small graphs: ``train_step`` and ``predict`` get
            ``GraphBatch``es) or ``"node"`` (node classification: ``NodeBatch``es).
        seed: seed of the parameter initialisation.
        device: geobatch's device string (``cpu``; the module chooses its own placement).
        options: the ``[model.options]`` table of the config (a dict).
        optimizer: a dict; graph tasks: learning_rate, decay_rate, decay_steps, beta1, beta2,
            epsilon; node tasks: learning_rate, weight_decay (an L2 penalty).

    Graph tasks only:
        n_species: width of the species one-hot.
        n_targets: targets per graph.
        target_mean, target_std: float64 arrays (n_targets,), statistics of the training split;
            the loss is the MSE of (y - mean) / std over real graphs.

    Node tasks only:
        n_features: input features per node.
        n_classes: classes.
    """

    def __init__(self, raw: dict):
        self.task = raw.get("task", "graph")
        self.seed = int(raw["seed"])
        self.device = raw["device"]
        self.optimizer = dict(raw["optimizer"])
        self.options = dict(raw.get("options") or {})
        if self.task == "node":
            self.n_features = int(raw["n_features"])
            self.n_classes = int(raw["n_classes"])
            return
        self.n_species = int(raw["n_species"])
        self.target_mean = np.asarray([t["mean"] for t in raw["target_stats"]], dtype=np.float64)
        self.target_std = np.asarray([t["std"] for t in raw["target_stats"]], dtype=np.float64)
        self.n_targets = len(self.target_mean)


def to_jraph(batch: GraphBatch):
    """The batch as a ``jraph.GraphsTuple`` (nodes: species and positions; edges: edge vectors;
    globals: targets). The arrays are the batch's own views; JAX copies them to the device."""
    import jraph

    return jraph.GraphsTuple(
        nodes={"species": batch.species, "positions": batch.positions},
        edges={"vectors": batch.edge_vectors},
        senders=batch.senders,
        receivers=batch.receivers,
        n_node=batch.n_node,
        n_edge=batch.n_edge,
        globals={"targets": batch.targets},
    )


def to_torch(batch: GraphBatch, device="cpu") -> dict:
    """The batch as a dict of PyTorch tensors on ``device``.

    Float arrays are shared with the batch on the CPU (``torch.from_numpy``, no copy) and must not
    be kept past the call; index arrays become int64 (PyTorch's index type), which is a copy.
    """
    import torch

    out = {}
    for name, dtype, _ in ARRAYS:
        value = getattr(batch, name)
        if dtype is np.int32:
            tensor = torch.from_numpy(value.astype(np.int64))
        elif dtype is np.bool_:
            tensor = torch.from_numpy(value.copy())
        else:
            # read-only views: PyTorch warns on non-writable arrays but shares the memory
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                tensor = torch.from_numpy(value)
        out[name] = tensor.to(device)
    return out
