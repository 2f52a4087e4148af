"""A node classifier for geobatch's node-level tasks in NumPy alone: SGC (simplified graph
convolution, Wu et al. 2019), softmax(Â^K X W + b), trained with Adam on the output nodes of every
batch. It needs nothing but NumPy, so it runs in any environment the `python` plugin accepts, and
it shows the node-level protocol in full (docs/python.md, "Node-level tasks").

Â is the batch's slice of the whole graph's D^-1 A (``batch.values``; self-loops included), so the
propagation inside a batch is what the same K hops compute on the whole graph, except for the
entries the batcher dropped: the batching choice shows in the accuracy. Propagation has no
parameters; the last hop computes only the output nodes' rows (``out_rows``...).

Options (``[model.options]``):
    hops: K, the propagation steps (default 2).
"""

import numpy as np


def propagate(batch, x, hops):
    """Â^hops x for the output nodes: hops - 1 steps over every local node, the last over the
    output rows only."""
    for _ in range(hops - 1):
        y = np.zeros_like(x)
        np.add.at(y, batch.rows, batch.values[:, None] * x[batch.cols])
        x = y
    out = np.zeros((batch.n_outputs, x.shape[1]), dtype=x.dtype)
    np.add.at(out, batch.out_rows, batch.out_values[:, None] * x[batch.out_cols])
    return out


def log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


class Sgc:
    def __init__(self, ctx):
        self.hops = int(ctx.options.get("hops", 2))
        if self.hops < 1:
            raise ValueError(f"hops = {self.hops}: must be at least 1")
        rng = np.random.default_rng(ctx.seed)
        limit = np.sqrt(6.0 / (ctx.n_features + ctx.n_classes))
        self.params = [
            rng.uniform(-limit, limit, (ctx.n_features, ctx.n_classes)),
            np.zeros(ctx.n_classes),
        ]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0
        self.weight_decay = float(ctx.optimizer.get("weight_decay", 0.0))

    def scores(self, batch):
        h = propagate(batch, batch.features.astype(np.float64), self.hops)
        w, b = self.params
        return h, h @ w + b

    def train_step(self, batch, step, learning_rate):
        h, z = self.scores(batch)
        labelled = np.flatnonzero(batch.labels >= 0)
        n = max(len(labelled), 1)
        logp = log_softmax(z[labelled])
        y = batch.labels[labelled]
        loss = -logp[np.arange(len(labelled)), y].sum() / n
        # gradient of the mean cross-entropy: softmax minus one-hot, on the labelled rows
        g = np.exp(logp)
        g[np.arange(len(labelled)), y] -= 1.0
        g /= n
        grads = [h[labelled].T @ g, g.sum(axis=0)]
        self.t += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        for i, (p, gr) in enumerate(zip(self.params, grads)):
            gr = gr + self.weight_decay * p  # L2 penalty, as geobatch's own node models
            self.m[i] = b1 * self.m[i] + (1 - b1) * gr
            self.v[i] = b2 * self.v[i] + (1 - b2) * gr * gr
            mh = self.m[i] / (1 - b1**self.t)
            vh = self.v[i] / (1 - b2**self.t)
            p -= learning_rate * mh / (np.sqrt(vh) + eps)
        # a NumPy step is done when it returns (no device work to wait for)
        return float(loss)

    def predict(self, batch):
        # logits, one row per output node; geobatch takes the log-softmax
        return self.scores(batch)[1]

    def parameter_count(self):
        return sum(p.size for p in self.params)

    def state(self):
        return {"params": self.params, "m": self.m, "v": self.v, "t": self.t}

    def load_state(self, state):
        self.params, self.m, self.v, self.t = state["params"], state["m"], state["v"], state["t"]


def build(ctx):
    if ctx.task != "node":
        raise ValueError("sgc_numpy classifies nodes: use it with a node-level dataset")
    return Sgc(ctx)
