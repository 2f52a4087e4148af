"""PyTorch counterpart of geobatch's SchNet training step, for timing comparisons only.

The same math as plugins/model-schnet (the study's SchNet, spec §3.1-3.2): no biases, truncated
normal init with std 1/sqrt(fan_in), 150 Gaussians exp(-(d - k*0.1)^2 / 0.1), shifted softplus,
filter MLP (activated) x Linear(h_sender), mean aggregation over incoming edges, residual update,
readout Linear(C/2) -> ssp -> Linear(1) with a per-graph mean; Adam (1e-4), MSE of standardised
U0 over real graphs. Batches: QM9 from geobatch's Parquet file, fully connected, dynamic batching
with the study's budget (strict next-64 of max(mean * B, max) from the first 1000 graphs of
the shuffled list, like geobatch's training split), padded
with jraph's layout. Times batching (numpy) + update (forward, backward, Adam), median and p90.

    python3 -m venv .venv && .venv/bin/pip install torch pyarrow numpy
    .venv/bin/python bench/torch/schnet_step.py [--data data/qm9/qm9.parquet] [--threads 2] [--device cuda]
"""

import argparse
import math
import time

import numpy as np
import torch

REF = {1: -0.500273, 6: -37.846772, 7: -54.583861, 8: -75.064579, 9: -99.718730}
HARTREE_EV = 27.21138602


def load(path):
    # pyarrow only here: bench/torch/schnet_forces.py imports this module without it
    import pyarrow.parquet as pq

    t = pq.read_table(path, columns=["atomic_numbers", "positions", "U0"])
    z = t.column("atomic_numbers").to_pylist()
    pos = t.column("positions").to_pylist()
    u0 = t.column("U0").to_numpy()
    y = np.array([(u - sum(REF[a] for a in zs)) * HARTREE_EV for u, zs in zip(u0, z)])
    classes = []
    for zs in z:
        for a in zs:
            if a not in classes:
                classes.append(a)
    lut = {a: i for i, a in enumerate(classes)}
    species = [np.array([lut[a] for a in zs], dtype=np.int64) for zs in z]
    pos = [np.array(p, dtype=np.float32).reshape(-1, 3) for p in pos]
    return species, pos, y.astype(np.float32), len(classes)


def next64(x):
    return 64 * (1 + math.floor(x / 64))


class Batcher:
    """jraph dynamically_batch over a repeating, shuffled stream, padded to the budget."""

    def __init__(self, species, pos, y, bs, seed=42):
        self.species, self.pos, self.y, self.bs = species, pos, y, bs
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(species))
        # The study estimates the budget from the first 1000 graphs of the (shuffled) training
        # list, as geobatch does; the file's own order starts with QM9's smallest molecules and
        # would give batches of half the size.
        n = [len(species[g]) for g in self.order[:1000]]
        e = [k * (k - 1) for k in n]
        self.n_node = next64(max(np.mean(n) * bs, max(n)))
        self.n_edge = next64(max(np.mean(e) * bs, max(e)))
        self.i = 0
        self.pairs = {}

    def peek(self):
        if self.i == len(self.order):
            self.order = self.rng.permutation(len(self.species))
            self.i = 0
        return self.order[self.i]

    def full_pairs(self, k):
        if k not in self.pairs:
            r, s = np.nonzero(~np.eye(k, dtype=bool))
            self.pairs[k] = (s, r)
        return self.pairs[k]

    def next(self):
        graphs, nodes, edges = [], 0, 0
        while True:
            g = self.peek()
            k = len(self.species[g])
            if nodes + k > self.n_node - 1 or edges + k * (k - 1) > self.n_edge or len(graphs) + 1 > self.bs - 1:
                break
            graphs.append(g)
            nodes += k
            edges += k * (k - 1)
            self.i += 1
        N, E, G = self.n_node, self.n_edge, self.bs
        species = np.zeros(N, np.int64)
        pos = np.zeros((N, 3), np.float32)
        node_graph = np.full(N, len(graphs), np.int64)
        senders = np.full(E, nodes, np.int64)
        receivers = np.full(E, nodes, np.int64)
        n_node = np.zeros(G, np.float32)
        y = np.zeros(G, np.float32)
        mask = np.zeros(G, np.float32)
        o = eo = 0
        for b, g in enumerate(graphs):
            k = len(self.species[g])
            species[o:o + k] = self.species[g]
            pos[o:o + k] = self.pos[g]
            node_graph[o:o + k] = b
            s, r = self.full_pairs(k)
            senders[eo:eo + len(s)] = s + o
            receivers[eo:eo + len(s)] = r + o
            n_node[b] = k
            y[b] = self.y[g]
            mask[b] = 1
            o += k
            eo += len(s)
        n_node[len(graphs)] = N - nodes
        return species, pos, node_graph, senders, receivers, n_node, y, mask, len(graphs)


CSV_HEADER = ("engine,model,device,variant,threads,bs,steps,median_ms,p90_ms,graphs_per_s,edges,"
              "batching_ms,transfer_ms,forward_ms,backward_ms,optimizer_ms")


def append_csv(path, line):
    """Appends one row to `path`, with geobatch bench step's header when the file is new."""
    import os
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    with open(path, "a") as f:
        if new:
            f.write(CSV_HEADER + "\n")
        f.write(line + "\n")


def dense(d_in, d_out, gen):
    w = torch.empty(d_in, d_out)
    torch.nn.init.trunc_normal_(w, std=1 / math.sqrt(d_in), a=-2 / math.sqrt(d_in), b=2 / math.sqrt(d_in), generator=gen)
    return torch.nn.Parameter(w)


def ssp(x):
    return torch.nn.functional.softplus(x) - math.log(2.0)


def gaussians(d, centres, delta):
    """The study's basis exp(-(d - k delta)^2 / delta) of every edge length."""
    return torch.exp(-((d[:, None] - centres[None, :]) ** 2) / delta)


def mean_readout(h, readout, node_graph, inv_n):
    """Linear(C/2) -> ssp -> Linear(1) per node, averaged per graph."""
    per_node = ssp(h @ readout[0]) @ readout[1]
    return torch.zeros(inv_n.shape[0], 1, device=h.device).index_add_(0, node_graph, per_node) * inv_n


class SchNet(torch.nn.Module):
    def __init__(self, n_species, c=64, steps=3, k=150, seed=42):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.k, self.delta = k, 0.1
        self.embed = dense(n_species, c, gen)
        self.filters = torch.nn.ParameterList()
        self.node_in = torch.nn.ParameterList()
        self.updates = torch.nn.ParameterList()
        for _ in range(steps):
            self.filters.extend([dense(k, c, gen), dense(c, c, gen)])
            self.node_in.append(dense(c, c, gen))
            self.updates.extend([dense(c, c, gen), dense(c, c, gen)])
        self.readout = torch.nn.ParameterList([dense(c, c // 2, gen), dense(c // 2, 1, gen)])
        self.register_buffer("centres", torch.arange(k, dtype=torch.float32) * self.delta)

    def forward(self, species, d, senders, receivers, inv_deg, node_graph, inv_n):
        e = gaussians(d, self.centres, self.delta)
        h = self.embed[species]
        for t in range(len(self.node_in)):
            w = ssp(ssp(e @ self.filters[2 * t]) @ self.filters[2 * t + 1])
            m = w * (h @ self.node_in[t])[senders]
            agg = torch.zeros_like(h).index_add_(0, receivers, m) * inv_deg
            h = h + ssp(agg @ self.updates[2 * t]) @ self.updates[2 * t + 1]
        return mean_readout(h, self.readout, node_graph, inv_n)


def main(model_cls=SchNet):
    """Times `model_cls` (SchNet's constructor and forward signature) at every batch size."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data/qm9/qm9.parquet")
    ap.add_argument("--batch-sizes", default="16,32,64,128")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]; the loss read-back ends each step")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (one padded shape: one compile)")
    ap.add_argument("--csv", help="also append the rows to this CSV file (scripts/gpu-ab.sh's columns)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    species, pos, y, n_species = load(a.data)
    mu, sd = float(y.mean()), float(y.std())
    print(f"torch {torch.__version__}, {model_cls.__name__}, {a.threads} threads, {dev}, {len(species)} molecules from {a.data}")
    print(f"{'bs':>5} {'median ms':>10} {'p90 ms':>8} {'graphs/s':>9} {'batching ms':>12} {'update ms':>10} {'edge budget':>12}")
    for bs in [int(b) for b in a.batch_sizes.split(",")]:
        torch.manual_seed(42)
        model = model_cls(n_species).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
        if a.compile:
            model = torch.compile(model)
        batcher = Batcher(species, pos, y, bs)
        times, bt, ut, graphs = [], [], [], 0
        for step in range(a.warmup + a.steps):
            t0 = time.perf_counter()
            sp, p, ng, s, r, n_node, yy, mask, real = batcher.next()
            t1 = time.perf_counter()
            sp, p, ng, s, r, n_node, yy, mask = (torch.from_numpy(x).to(dev) for x in (sp, p, ng, s, r, n_node, yy, mask))
            d = torch.linalg.vector_norm(p[r] - p[s], dim=1)
            deg = torch.bincount(r, minlength=p.shape[0]).clamp(min=1).float()[:, None]
            inv_n = (1.0 / n_node.clamp(min=1))[:, None]
            target = (yy[:, None] - mu) / sd
            m = mask[:, None]
            pred = model(sp, d, s, r, 1.0 / deg, ng, inv_n)
            loss = (((pred - target) * m) ** 2).sum() / real
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss.item()
            t2 = time.perf_counter()
            if step >= a.warmup:
                times.append(t2 - t0)
                bt.append(t1 - t0)
                ut.append(t2 - t1)
                graphs += real
        med = float(np.median(times))
        print(f"{bs:>5} {1e3 * med:>10.2f} {1e3 * np.percentile(times, 90):>8.2f} {graphs / a.steps / med:>9.0f} "
              f"{1e3 * np.median(bt):>12.2f} {1e3 * np.median(ut):>10.2f} {batcher.n_edge:>12}")
        if a.csv:
            variant = "compile" if a.compile else "eager"
            append_csv(a.csv, f"torch,{model_cls.__name__.lower()},{dev},{variant},{a.threads},{bs},{a.steps},"
                              f"{1e3 * med:.4f},{1e3 * np.percentile(times, 90):.4f},{graphs / a.steps / med:.1f},"
                              f"{batcher.n_edge},{1e3 * np.median(bt):.4f},,,,")


if __name__ == "__main__":
    main()
