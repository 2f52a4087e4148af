"""Two users' own training steps on full QM9 (not the shipped examples), for the advise
measurements of docs/advise.md: a hand-written SchNet-like network (three continuous-filter
blocks, 64 channels, 50 Gaussians) under torch.compile (inductor) on padded PyG batches, and the
same network written in JAX, a functional step under jax.jit on geobatch's padded arrays.

`user(framework)` gives what `geobatch.advise` takes (`step`, `data`, and `state` or `init`),
`make_torch` and `make_jax` the same for its validation runs in new processes, and
`batches(user, options, seed)` the batches a user's own loop meets for a batcher, epoch after
epoch, as `advise` plans them. QM9 from GEOBATCH_DATA (default: data, after
`geobatch data fetch qm9`; `fixture`: the embedded fixture, to try the scripts)."""
import os

import numpy as np

import geobatch

H, RBF, BLOCKS = 64, 50, 3


def _train():
    data_dir = os.environ.get("GEOBATCH_DATA", "data")
    where = {"source": "fixture"} if data_dir == "fixture" else {"data_dir": data_dir}
    train = geobatch.load_dataset(kind="qm9", targets=["U0"], **where).splits["train"]
    y = train.graphs["targets"]
    train.graphs["targets"][:] = (y - y.mean()) / y.std()
    return train


def torch_user():
    """A PyG user's step: a list of `Data` (fully connected molecules), the model compiled
    with `dynamic=False` (a compile per padded shape), Adam."""
    import torch
    from torch_geometric.data import Data

    train = _train()
    z, pos, y, off = (train.nodes["atomic_numbers"], train.nodes["positions"], train.graphs["targets"],
                      train.node_offsets)
    pattern = {}

    def molecule(g):
        n = int(off[g + 1] - off[g])
        if n not in pattern:
            r, s = np.divmod(np.arange(n * n), n)
            keep = r != s
            pattern[n] = torch.from_numpy(np.stack([s[keep], r[keep]]))
        return Data(z=torch.from_numpy(z[off[g]:off[g + 1]].astype(np.int64)),
                    pos=torch.from_numpy(pos[off[g]:off[g + 1]]), edge_index=pattern[n],
                    y=torch.from_numpy(y[g:g + 1].astype(np.float32)))

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(10, H)
            self.mu = torch.linspace(0, 10, RBF)
            self.filt = torch.nn.ModuleList([torch.nn.Sequential(
                torch.nn.Linear(RBF, H), torch.nn.Softplus(), torch.nn.Linear(H, H)) for _ in range(BLOCKS)])
            self.mix = torch.nn.ModuleList([torch.nn.Linear(H, H) for _ in range(BLOCKS)])
            self.out = torch.nn.Sequential(torch.nn.Linear(H, H // 2), torch.nn.Softplus(),
                                           torch.nn.Linear(H // 2, 1))

        def forward(self, z, pos, edge_index, batch, n_graphs):
            s, r = edge_index
            d = (pos[s] - pos[r]).norm(dim=-1, keepdim=True)
            e = torch.exp(-(d - self.mu) ** 2)
            h = self.emb(z)
            for f, m in zip(self.filt, self.mix):
                h = h + m(torch.zeros_like(h).index_add(0, r, h[s] * f(e)))
            return torch.zeros(n_graphs, 1).index_add(0, batch, self.out(h))

    torch.manual_seed(0)
    model = Net()
    torch._dynamo.config.cache_size_limit = 1024
    torch._dynamo.config.accumulated_cache_size_limit = 4096
    compiled = torch.compile(model, dynamic=False)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(b):
        loss = ((compiled(b.z, b.pos, b.edge_index, b.batch, b.num_graphs) - b.y) ** 2)[b.graph_mask].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return {"step": step, "data": [molecule(g) for g in range(len(train))], "state": [model, opt]}


def jax_user():
    """A JAX user's step: the same network as a functional `step(state, batch) -> state` under
    `jax.jit` (a compile per padded shape) on a `GraphStore`'s padded arrays, Adam (optax)."""
    import jax
    import jax.numpy as jnp
    import optax

    train = _train()
    mu = jnp.linspace(0.0, 10.0, RBF)
    keys = iter(jax.random.split(jax.random.PRNGKey(0), 4 + 3 * BLOCKS))

    def dense(i, o):
        return {"w": jax.random.normal(next(keys), (i, o)) / np.sqrt(i), "b": jnp.zeros(o)}

    params = {"emb": jax.random.normal(next(keys), (10, H)),
              "blocks": [{"f1": dense(RBF, H), "f2": dense(H, H), "mix": dense(H, H)} for _ in range(BLOCKS)],
              "o1": dense(H, H // 2), "o2": dense(H // 2, 1)}
    opt = optax.adam(1e-3)

    def lin(p, x):
        return x @ p["w"] + p["b"]

    def loss_fn(p, b):
        s, r, pos = b["senders"], b["receivers"], b["positions"]
        d = jnp.linalg.norm(pos[s] - pos[r] + 1e-9, axis=-1, keepdims=True)
        e = jnp.exp(-(d - mu) ** 2)
        h = p["emb"][b["species"]]
        for blk in p["blocks"]:
            w = lin(blk["f2"], jax.nn.softplus(lin(blk["f1"], e)))
            h = h + lin(blk["mix"], jnp.zeros_like(h).at[r].add(h[s] * w))
        out = lin(p["o2"], jax.nn.softplus(lin(p["o1"], h)))
        pred = jnp.zeros((b["mask"].shape[0], 1)).at[b["node_graph"]].add(out)
        err = jnp.where(b["mask"][:, None], (pred - b["y"]) ** 2, 0.0)
        return err.sum() / jnp.maximum(b["mask"].sum(), 1)

    @jax.jit
    def update(params, opt_state, b):
        grads = jax.grad(loss_fn)(params, b)
        updates, opt_state = opt.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state

    def step(state, batch):
        b = {"senders": batch.senders, "receivers": batch.receivers, "positions": batch.nodes["positions"],
             "species": batch.nodes["species"], "node_graph": batch.node_graph, "mask": batch.graph_mask,
             "y": batch.graphs["targets"]}
        return update(*state, b)

    return {"step": step, "data": train, "init": (params, opt.init(params))}


def user(framework: str) -> dict:
    """The step, data and state of the `torch` or `jax` user."""
    return {"torch": torch_user, "jax": jax_user}[framework]()


def make_torch() -> dict:
    """The PyG user's step and data made anew: `advise(new_process=make_torch)`."""
    return torch_user()


def make_jax() -> dict:
    """The JAX user's step and data made anew: `advise(new_process=make_jax)`."""
    return jax_user()


def batches(u: dict, options: dict, seed: int = 0):
    """The batches the user's own loop meets for a batcher table (`kind`, `batch_size`, options),
    epoch after epoch of `seed`: `geobatch.torch.DataLoader` for the PyG user, `BatchSampler` and
    the store's collator for the JAX user."""
    opts = dict(options)
    kind, batch_size = opts.pop("kind"), opts.pop("batch_size")
    if "state" in u:
        from geobatch.torch import DataLoader

        loader = DataLoader(u["data"], kind, batch_size, seed=seed, shuffle=True, **opts)
        epoch = 0
        while True:
            loader.set_epoch(epoch)
            yield from loader
            epoch += 1
    store = u["data"]
    sampler = geobatch.BatchSampler(store.sizes, kind, batch_size, seed=seed, shuffle=True, **opts)
    collator, epoch = None, 0
    while True:
        sampler.set_epoch(epoch)
        plan = sampler.plan()
        capacity = plan.padded.max(axis=0)
        if collator is None or (capacity > collator.capacity).any():
            if collator is not None:
                capacity = np.maximum(capacity, collator.capacity)
            collator = store.collator(capacity)
        for b in range(len(plan)):
            yield collator.collate_plan(plan, b)
        epoch += 1
