"""The study's SchNet in PyTorch, as a geobatch `python` model: the same architecture, loss and
optimiser as python/schnet_jax.py (spec study.md §3.1-3.2, §5), eager by default.

Options (`[model.options]`): latent (64), steps (3), rbf (150), rbf_spacing (0.1),
compile (false: wrap the forward pass and loss in `torch.compile(dynamic=False)`, which, like
XLA, compiles again for every new padded shape), threads (PyTorch's intra-op threads; default
PyTorch's own choice).

`train_step` returns `loss.item()`, which waits for the device, so geobatch's update time covers
the work. Index arrays become int64 tensors (PyTorch's index type: one copy of each per step);
float arrays are shared with geobatch's batch without a copy on the CPU.
"""

import math


def build(ctx):
    """geobatch's entry point."""
    return SchNetTorch(ctx)


def _parameters(torch, n_species: int, n_targets: int, c: int, steps: int, k: int):
    """The weights (no biases), each drawn from a normal truncated at two standard deviations,
    std 1/sqrt(fan_in)."""

    def dense(fan_in, fan_out):
        w = torch.empty(fan_in, fan_out)
        std = 1.0 / math.sqrt(fan_in)
        torch.nn.init.trunc_normal_(w, std=std, a=-2 * std, b=2 * std)
        return torch.nn.Parameter(w)

    p = {"embed": dense(n_species, c)}
    for t in range(steps):
        for name, shape in [
            ("filter1", (k, c)),
            ("filter2", (c, c)),
            ("node_in", (c, c)),
            ("update1", (c, c)),
            ("update2", (c, c)),
        ]:
            p[f"{t}_{name}"] = dense(*shape)
    p["readout1"] = dense(c, c // 2)
    p["readout2"] = dense(c // 2, n_targets)
    return torch.nn.ParameterDict(p)


def _forward(torch, params, n_steps: int, centres, delta: float):
    """The forward pass over a batch's arrays: per-graph predictions (standardised)."""
    log2 = math.log(2.0)

    def ssp(x):
        return torch.nn.functional.softplus(x) - log2

    def forward(species, node_graph, senders, receivers, edge_vectors, n_node):
        n_nodes, n_graphs = species.shape[0], n_node.shape[0]
        h = params["embed"][species]
        d = torch.sqrt((edge_vectors * edge_vectors).sum(-1))
        rbf = torch.exp(-((d[:, None] - centres[None, :]) ** 2) / delta)
        incoming = torch.zeros(n_nodes).index_add_(0, receivers, torch.ones_like(d))
        incoming = incoming.clamp(min=1.0)[:, None]
        for t in range(n_steps):
            w = ssp(ssp(rbf @ params[f"{t}_filter1"]) @ params[f"{t}_filter2"])
            m = w * (h @ params[f"{t}_node_in"])[senders]
            agg = torch.zeros(n_nodes, m.shape[1]).index_add_(0, receivers, m) / incoming
            h = h + ssp(agg @ params[f"{t}_update1"]) @ params[f"{t}_update2"]
        per_node = ssp(h @ params["readout1"]) @ params["readout2"]
        total = torch.zeros(n_graphs, per_node.shape[1]).index_add_(0, node_graph, per_node)
        return total / n_node.clamp(min=1)[:, None].to(torch.float32)

    return forward


class SchNetTorch:
    def __init__(self, ctx):
        import torch

        import geobatch_bridge

        self.torch, self.bridge = torch, geobatch_bridge
        opts = ctx.options
        if "threads" in opts:
            torch.set_num_threads(int(opts["threads"]))
        torch.manual_seed(ctx.seed)
        c = int(opts.get("latent", 64))
        steps = int(opts.get("steps", 3))
        k = int(opts.get("rbf", 150))
        delta = float(opts.get("rbf_spacing", 0.1))

        self.params = _parameters(torch, ctx.n_species, ctx.n_targets, c, steps, k)
        self.steps = steps
        o = ctx.optimizer
        self.opt = torch.optim.Adam(
            self.params.parameters(),
            lr=o["learning_rate"],
            betas=(o["beta1"], o["beta2"]),
            eps=o["epsilon"],
        )
        mean = torch.tensor(ctx.target_mean, dtype=torch.float32)
        std = torch.tensor(ctx.target_std, dtype=torch.float32)
        self.mean, self.std = mean, std
        centres = torch.arange(k, dtype=torch.float32) * delta
        forward = _forward(torch, self.params, steps, centres, delta)

        def loss_fn(species, node_graph, senders, receivers, edge_vectors, n_node, targets, mask):
            pred = forward(species, node_graph, senders, receivers, edge_vectors, n_node)
            y = (targets - mean) / std
            err = torch.where(mask[:, None], (pred - y) ** 2, torch.zeros_like(pred))
            return err.sum() / (mask.sum().clamp(min=1) * err.shape[1])

        self.forward = forward
        if opts.get("compile"):
            # one compiled graph per padded shape, however many (PyTorch's default falls back to
            # eager after 8)
            torch._dynamo.config.cache_size_limit = 1 << 16
            self.loss_fn = torch.compile(loss_fn, dynamic=False)
        else:
            self.loss_fn = loss_fn

    def _inputs(self, batch):
        t = self.bridge.to_torch(batch)
        return t, (
            t["species"],
            t["node_graph"],
            t["senders"],
            t["receivers"],
            t["edge_vectors"],
            t["n_node"],
        )

    def train_step(self, batch, step, learning_rate):
        t, inputs = self._inputs(batch)
        for group in self.opt.param_groups:
            group["lr"] = learning_rate
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss_fn(*inputs, t["targets"], t["graph_mask"])
        loss.backward()
        self.opt.step()
        return loss.item()

    def predict(self, batch):
        _, inputs = self._inputs(batch)
        with self.torch.no_grad():
            out = self.forward(*inputs) * self.std + self.mean
        return out[: batch.real_graphs].numpy()

    def parameter_count(self):
        return int(sum(p.numel() for p in self.params.parameters()))

    def state(self):
        return {
            "params": {k: v.detach().clone() for k, v in self.params.items()},
            "opt": self.opt.state_dict(),
        }

    def load_state(self, state):
        with self.torch.no_grad():
            for k, v in state["params"].items():
                self.params[k].copy_(v)
        self.opt.load_state_dict(state["opt"])
