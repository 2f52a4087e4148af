"""The study's SchNet in JAX, as a geobatch `python` model (spec study.md §3.1-3.2 and §5).

Node input: species class -> one-hot -> Linear(C). Edge input: K Gaussians of the distance,
exp(-(d - k delta)^2 / delta). Each of T steps, with its own weights: filter
W = [Linear(C) -> ssp -> Linear(C) -> ssp](e); x_j = Linear(C)(h_sender); m = W * x_j;
h <- h + [Linear(C) -> ssp -> Linear(C)](mean of m over incoming edges). Readout per node
Linear(C/2) -> ssp -> Linear(targets), mean over the graph's nodes. No biases; weights drawn from a
normal truncated at two standard deviations, std 1/sqrt(fan_in). Adam (optax) on the MSE of
standardised targets over real graphs; the learning rate comes from geobatch every step.

The whole update (forward, backward, Adam) is one `jax.jit` function: XLA compiles it again for
every new padded shape, which is the cost the study measures. `train_step` returns
`float(loss)`, which waits for the device, so geobatch's update time covers the device work.

Options (`[model.options]`): latent (64), steps (3), rbf (150), rbf_spacing (0.1),
single_thread (false: one XLA CPU thread, the study's calibration setting; must be set before
the first JAX import in the worker), compile_log (a file that gets one line per compile).
"""

import os

import numpy as np


def _graph(batch):
    """The arrays the forward pass reads, in its argument order."""
    return (
        batch.species,
        batch.node_graph,
        batch.senders,
        batch.receivers,
        batch.edge_vectors,
        batch.n_node,
    )


def _ssp(x):
    import jax.numpy as jnp

    return jnp.logaddexp(x, 0.0) - np.log(2.0).astype(np.float32)


def _init_params(key, n_species, n_targets, c, steps, k):
    import jax

    def dense(key, fan_in, fan_out):
        std = 1.0 / np.sqrt(fan_in)
        return jax.random.truncated_normal(key, -2.0, 2.0, (fan_in, fan_out), np.float32) * std

    keys = iter(jax.random.split(key, 3 + 5 * steps))
    params = {"embed": dense(next(keys), n_species, c), "interactions": []}
    for _ in range(steps):
        params["interactions"].append(
            {
                "filter1": dense(next(keys), k, c),
                "filter2": dense(next(keys), c, c),
                "node_in": dense(next(keys), c, c),
                "update1": dense(next(keys), c, c),
                "update2": dense(next(keys), c, c),
            }
        )
    params["readout1"] = dense(next(keys), c, c // 2)
    params["readout2"] = dense(next(keys), c // 2, n_targets)
    return params


class SchNet:
    """The model object geobatch's worker drives."""

    def __init__(self, ctx):
        opts = ctx.options
        if opts.get("single_thread", False):
            os.environ["XLA_FLAGS"] = (
                os.environ.get("XLA_FLAGS", "")
                + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
            )
        import jax
        import jax.numpy as jnp
        import optax

        self.jax, self.jnp = jax, jnp
        c = int(opts.get("latent", 64))
        steps = int(opts.get("steps", 3))
        k = int(opts.get("rbf", 150))
        delta = float(opts.get("rbf_spacing", 0.1))
        n_species = ctx.n_species
        mean = jnp.asarray(ctx.target_mean, dtype=jnp.float32)
        std = jnp.asarray(ctx.target_std, dtype=jnp.float32)
        self.mean, self.std = np.asarray(ctx.target_mean), np.asarray(ctx.target_std)
        centres = jnp.arange(k, dtype=jnp.float32) * delta
        log_path = opts.get("compile_log")
        o = ctx.optimizer
        self.tx = optax.scale_by_adam(b1=o["beta1"], b2=o["beta2"], eps=o["epsilon"])
        self.params = _init_params(jax.random.PRNGKey(ctx.seed), n_species, ctx.n_targets, c, steps, k)
        self.opt_state = self.tx.init(self.params)

        def forward(params, species, node_graph, senders, receivers, edge_vectors, n_node):
            n_nodes, n_graphs = species.shape[0], n_node.shape[0]
            h = params["embed"][species]  # one-hot x Linear = a row lookup
            d = jnp.sqrt(jnp.sum(edge_vectors * edge_vectors, axis=-1))
            rbf = jnp.exp(-((d[:, None] - centres[None, :]) ** 2) / delta)
            incoming = jax.ops.segment_sum(
                jnp.ones_like(d), receivers, n_nodes, indices_are_sorted=True
            )
            incoming = jnp.maximum(incoming, 1.0)[:, None]
            for layer in params["interactions"]:
                w = _ssp(_ssp(rbf @ layer["filter1"]) @ layer["filter2"])
                m = w * (h @ layer["node_in"])[senders]
                agg = jax.ops.segment_sum(m, receivers, n_nodes, indices_are_sorted=True) / incoming
                h = h + _ssp(agg @ layer["update1"]) @ layer["update2"]
            per_node = _ssp(h @ params["readout1"]) @ params["readout2"]
            total = jax.ops.segment_sum(per_node, node_graph, n_graphs, indices_are_sorted=True)
            return total / jnp.maximum(n_node, 1)[:, None].astype(jnp.float32)

        def loss_fn(params, species, node_graph, senders, receivers, edge_vectors, n_node, targets, mask):
            pred = forward(params, species, node_graph, senders, receivers, edge_vectors, n_node)
            y = (targets - mean) / std
            err = jnp.where(mask[:, None], (pred - y) ** 2, 0.0)
            return jnp.sum(err) / (jnp.maximum(jnp.sum(mask), 1) * err.shape[1])

        def update(params, opt_state, lr, *arrays):
            if log_path:  # runs only while JAX traces, i.e. once per compile
                with open(log_path, "a") as f:
                    f.write(f"{arrays[0].shape[0]} {arrays[3].shape[0]} {arrays[5].shape[0]}\n")
            loss, grads = jax.value_and_grad(loss_fn)(params, *arrays)
            updates, opt_state = self.tx.update(grads, opt_state, params)
            params = jax.tree_util.tree_map(lambda p, u: p - lr * u, params, updates)
            return params, opt_state, loss

        self._update = jax.jit(update)
        self._predict = jax.jit(
            lambda params, *a: forward(params, *a) * std + mean
        )

    def train_step(self, batch, step, learning_rate):
        self.params, self.opt_state, loss = self._update(
            self.params,
            self.opt_state,
            np.float32(learning_rate),
            *_graph(batch),
            batch.targets,
            batch.graph_mask,
        )
        return float(loss)  # waits for the device: the update time covers the work

    def predict(self, batch):
        out = self._predict(self.params, *_graph(batch))
        return np.asarray(out)[: batch.real_graphs]

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
    return SchNet(ctx)
