"""geobatch's GCN node classifier in JAX, as a `python` model for node-level tasks (the
architecture of geobatch's own `gcn`, docs/ibmb.md and spec ibmb §5).

Each of `layers` blocks: conv = Â (H W + b) over the batch's entries (``batch.values``: the whole
graph's D^-1 A, self-loops included), LayerNorm (optional), ReLU, dropout; the last block computes
the output nodes' rows only; a linear head and log-softmax. Xavier-uniform weights, zero biases.
Adam (optax) on the mean negative log-likelihood of the labelled output nodes, with the
optimiser's weight decay as an L2 penalty on the gradients; the learning rate comes from geobatch
every call (the plateau schedule lowers it).

The whole update is one `jax.jit` function. Node batches are not padded by geobatch, so this
module pads each batch itself (``pad = "pow2"``, the default: nodes, entries, outputs and output
entries each to the next power of two above their count, padding entries with value 0 pointing at
a padding node) and XLA compiles once per padded shape, or not at all (``pad = "none"``: every
batch of a new size compiles).

Options (``[model.options]``): hidden (256), layers (3), dropout (0.5), layer_norm (true),
pad ("pow2" or "none"), compile_log (a file that gets one line per compile).
"""

import numpy as np


def _bucket(n):
    """The padded size of a count: the next power of two above it (room for one padding row)."""
    return 1 << int(n).bit_length()


def _padded(batch, pad):
    """The batch's arrays padded to their buckets: (features, rows, cols, values, out_rows,
    out_cols, out_values, outputs, labels)."""
    if pad == "none":
        return (batch.features, batch.rows, batch.cols, batch.values, batch.out_rows,
                batch.out_cols, batch.out_values, batch.outputs, batch.labels)
    n, e, o = batch.real
    pn, pe, po, poe = (_bucket(x) for x in (n, e, o, len(batch.out_rows)))

    def grow(a, size, fill):
        out = np.full((size,) + a.shape[1:], fill, dtype=a.dtype)
        out[: len(a)] = a
        return out

    return (
        grow(batch.features, pn, 0),
        grow(batch.rows, pe, pn - 1),  # padding entries: into the last padding node, value 0
        grow(batch.cols, pe, pn - 1),
        grow(batch.values, pe, 0),
        grow(batch.out_rows, poe, po - 1),  # into the last padding output
        grow(batch.out_cols, poe, pn - 1),
        grow(batch.out_values, poe, 0),
        grow(batch.outputs, po, pn - 1),
        grow(batch.labels, po, -1),  # unlabelled: no loss
    )


def _parameters(jax, key, n_features: int, n_classes: int, hidden: int, layers: int, norm: bool) -> dict:
    """Glorot-uniform weights, zero biases; a layer norm's gain 1 and bias 0 per layer."""
    import jax.numpy as jnp

    def linear(key, d_in, d_out):
        limit = np.sqrt(6.0 / (d_in + d_out))
        w = jax.random.uniform(key, (d_in, d_out), jnp.float32, -limit, limit)
        return {"w": w, "b": jnp.zeros(d_out, jnp.float32)}

    keys = jax.random.split(key, layers + 1)
    params = {"convs": [], "norms": []}
    for i in range(layers):
        d_in = n_features if i == 0 else hidden
        params["convs"].append(linear(keys[i], d_in, hidden))
        if norm:
            params["norms"].append({"g": jnp.ones(hidden, jnp.float32), "b": jnp.zeros(hidden, jnp.float32)})
    params["head"] = linear(keys[layers], hidden, n_classes)
    return params


class Gcn:
    """The model object geobatch's worker drives."""

    def __init__(self, ctx):
        import jax
        import jax.numpy as jnp
        import optax

        self.jax = jax
        opts = ctx.options
        hidden = int(opts.get("hidden", 256))
        layers = int(opts.get("layers", 3))
        rate = float(opts.get("dropout", 0.5))
        norm = bool(opts.get("layer_norm", True))
        self.pad = str(opts.get("pad", "pow2"))
        if self.pad not in ("pow2", "none"):
            raise ValueError(f'pad = "{self.pad}": expected "pow2" or "none"')
        if hidden < 1 or layers < 1 or not 0.0 <= rate < 1.0:
            raise ValueError("hidden and layers must be at least 1, dropout in [0, 1)")
        log_path = opts.get("compile_log")
        self.seed = ctx.seed

        self.params = _parameters(jax, jax.random.PRNGKey(ctx.seed), ctx.n_features, ctx.n_classes,
                                  hidden, layers, norm)
        self.tx = optax.chain(
            optax.add_decayed_weights(float(ctx.optimizer.get("weight_decay", 0.0))),
            optax.scale_by_adam(),
        )
        self.opt_state = self.tx.init(self.params)

        def forward(params, key, x, rows, cols, values, out_rows, out_cols, out_values, outputs):
            n, o = x.shape[0], outputs.shape[0]
            h = x
            for i, conv in enumerate(params["convs"]):
                last = i == len(params["convs"]) - 1
                r, c, v, size = (out_rows, out_cols, out_values, o) if last else (rows, cols, values, n)
                m = (h @ conv["w"] + conv["b"])[c] * v[:, None]
                h = jax.ops.segment_sum(m, r, size, indices_are_sorted=True)
                if params["norms"]:
                    ln = params["norms"][i]
                    mu = h.mean(axis=1, keepdims=True)
                    var = ((h - mu) ** 2).mean(axis=1, keepdims=True)
                    h = (h - mu) / jnp.sqrt(var + 1e-5) * ln["g"] + ln["b"]
                h = jax.nn.relu(h)
                if key is not None and rate > 0:
                    key, sub = jax.random.split(key)
                    keep = jax.random.bernoulli(sub, 1.0 - rate, h.shape)
                    h = jnp.where(keep, h / (1.0 - rate), 0.0)
            head = params["head"]
            return jax.nn.log_softmax(h @ head["w"] + head["b"], axis=1)

        def loss_fn(params, key, labels, *arrays):
            logp = forward(params, key, *arrays)
            labelled = labels >= 0
            picked = jnp.take_along_axis(logp, jnp.maximum(labels, 0)[:, None], axis=1)[:, 0]
            return -jnp.sum(jnp.where(labelled, picked, 0.0)) / jnp.maximum(labelled.sum(), 1)

        def update(params, opt_state, lr, key, labels, *arrays):
            if log_path:  # runs only while JAX traces, i.e. once per compile
                with open(log_path, "a") as f:
                    shape = (arrays[0], arrays[1], arrays[7], arrays[4])  # nodes, entries, outputs, out entries
                    f.write(" ".join(str(a.shape[0]) for a in shape) + "\n")
            loss, grads = jax.value_and_grad(loss_fn)(params, key, labels, *arrays)
            updates, opt_state = self.tx.update(grads, opt_state, params)
            params = jax.tree_util.tree_map(lambda p, u: p - lr * u, params, updates)
            return params, opt_state, loss

        self._update = jax.jit(update)
        self._predict = jax.jit(lambda params, *a: forward(params, None, *a))

    def train_step(self, batch, step, learning_rate):
        arrays = _padded(batch, self.pad)
        # dropout draws depend on the seed and the step only: a resumed run draws the same
        key = self.jax.random.fold_in(self.jax.random.PRNGKey(self.seed), step)
        self.params, self.opt_state, loss = self._update(
            self.params, self.opt_state, np.float32(learning_rate), key, arrays[8], *arrays[:8]
        )
        return float(loss)  # waits for the device: the update time covers the work

    def predict(self, batch):
        arrays = _padded(batch, self.pad)
        logp = self._predict(self.params, *arrays[:8])
        return np.asarray(logp)[: batch.n_outputs]

    def parameter_count(self):
        leaves = self.jax.tree_util.tree_leaves(self.params)
        return int(sum(np.prod(p.shape) for p in leaves))

    def state(self):
        return self.jax.device_get({"params": self.params, "opt_state": self.opt_state})

    def load_state(self, state):
        put = self.jax.device_put
        self.params = put(state["params"])
        self.opt_state = put(state["opt_state"])


def build(ctx):
    """geobatch's entry point."""
    if ctx.task != "node":
        raise ValueError("gcn_jax classifies nodes: use it with a node-level dataset")
    return Gcn(ctx)
