"""PyTorch counterpart of geobatch's PaiNN training step, for timing comparisons only.

The same math as plugins/model-painn (the study's PaiNN, spec §3.4): hidden 256, 3 layers with
separate weights, 20 Gaussians exp(-0.5 (d - mu)^2 / 0.3^2) on linspace(0, 6, 20), cosine cutoff
at 6 A, one Linear(20 -> 3*256*3) filter with bias times the cutoff, SiLU, messages gathered at
the receivers and summed over the senders, updates clipped at +-100, epsilons 1e-8 in the norms,
Xavier-uniform weights and zero biases, readout Linear(256) -> SiLU -> Linear(1) with a per-graph
mean; Adam (1e-4), MSE of standardised U0 over real graphs. Batches as in schnet_step.py (QM9,
fully connected, dynamic budget from the shuffled list, jraph padding).

    .venv/bin/python bench/torch/painn_step.py [--data data/qm9/qm9.parquet] [--threads 1] [--device cuda]
"""

import argparse
import math
import time

import numpy as np
import torch

from schnet_step import Batcher, append_csv, load


def linear(d_in, d_out, gen, bias=True):
    lin = torch.nn.Linear(d_in, d_out, bias=bias)
    limit = math.sqrt(6.0 / (d_in + d_out))
    with torch.no_grad():
        lin.weight.uniform_(-limit, limit, generator=gen)
        if bias:
            lin.bias.zero_()
    return lin


class Mlp2(torch.nn.Module):
    def __init__(self, a, b, c, gen):
        super().__init__()
        self.first, self.second = linear(a, b, gen), linear(b, c, gen)

    def forward(self, x):
        return self.second(torch.nn.functional.silu(self.first(x)))


class Painn(torch.nn.Module):
    def __init__(self, n_species, f=256, layers=3, k=20, cutoff=6.0, seed=42):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.f, self.k, self.cutoff, self.n_layers = f, k, cutoff, layers
        limit = math.sqrt(6.0 / (n_species + f))
        self.embed = torch.nn.Parameter(torch.empty(n_species, f).uniform_(-limit, limit, generator=gen))
        self.filter = linear(k, 3 * f * layers, gen)
        self.message = torch.nn.ModuleList([Mlp2(f, f, 3 * f, gen) for _ in range(layers)])
        self.mix = torch.nn.ModuleList([linear(f, 2 * f, gen, bias=False) for _ in range(layers)])
        self.update = torch.nn.ModuleList([Mlp2(2 * f, f, 3 * f, gen) for _ in range(layers)])
        self.readout = Mlp2(f, f, 1, gen)
        self.register_buffer("centres", torch.linspace(0, cutoff, k))

    def forward(self, species, r, senders, receivers, node_graph, inv_n):
        f, n, e = self.f, species.shape[0], r.shape[0]
        norm = torch.sqrt((r * r).sum(1, keepdim=True) + 1e-8)
        direction = r / (norm + 1e-8)
        width = self.cutoff / self.k
        basis = torch.exp(-0.5 * ((norm - self.centres[None, :]) / width) ** 2)
        fcut = torch.where(norm < self.cutoff, 0.5 * (torch.cos(math.pi * norm / self.cutoff) + 1), torch.zeros_like(norm))
        filters = self.filter(basis) * fcut
        s = self.embed[species]
        v = torch.zeros(n, 3, f, device=r.device)
        for l in range(self.n_layers):
            w = filters[:, 3 * f * l:3 * f * (l + 1)]
            m = w * self.message[l](s)[receivers]
            ds, dv1, dv2 = m[:, :f], m[:, f:2 * f], m[:, 2 * f:]
            dv = dv1[:, None, :] * direction[:, :, None] + dv2[:, None, :] * v[receivers]
            s = s + torch.zeros(n, f, device=r.device).index_add_(0, senders, ds).clamp(-100, 100)
            v = v + torch.zeros(n, 3, f, device=r.device).index_add_(0, senders, dv).clamp(-100, 100)
            mixed = self.mix[l](v)
            vl, vr = mixed[..., :f], mixed[..., f:]
            vr_norm = torch.sqrt((vr * vr).sum(1) + 1e-8)
            a = self.update[l](torch.cat([s, vr_norm], 1))
            a_ss, a_vv, a_sv = a[:, :f], a[:, f:2 * f], a[:, 2 * f:]
            s = s + (a_ss + a_sv * (vr * vl).sum(1)).clamp(-100, 100)
            v = v + (a_vv[:, None, :] * vl).clamp(-100, 100)
        per_node = self.readout(s)
        g = inv_n.shape[0]
        return torch.zeros(g, 1, device=r.device).index_add_(0, node_graph, per_node) * inv_n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data/qm9/qm9.parquet")
    ap.add_argument("--batch-sizes", default="16,32,64,128")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]; the loss read-back ends each step")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (one padded shape: one compile)")
    ap.add_argument("--csv", help="also append the rows to this CSV file (scripts/gpu-ab.sh's columns)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    species, pos, y, n_species = load(a.data)
    mu, sd = float(y.mean()), float(y.std())
    model0 = Painn(n_species)
    print(f"torch {torch.__version__}, {a.threads} threads, {dev}, {len(species)} molecules, "
          f"{sum(p.numel() for p in model0.parameters())} parameters")
    print(f"{'bs':>5} {'median ms':>10} {'p90 ms':>8} {'graphs/s':>9} {'edge budget':>12}")
    for bs in [int(b) for b in a.batch_sizes.split(",")]:
        torch.manual_seed(42)
        model = Painn(n_species).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
        if a.compile:
            model = torch.compile(model)
        batcher = Batcher(species, pos, y, bs)
        times, graphs = [], 0
        for step in range(a.warmup + a.steps):
            t0 = time.perf_counter()
            sp, p, ng, s, r, n_node, yy, mask, real = batcher.next()
            sp, p, ng, s, r, n_node, yy, mask = (torch.from_numpy(x).to(dev) for x in (sp, p, ng, s, r, n_node, yy, mask))
            vec = p[r] - p[s]
            inv_n = (1.0 / n_node.clamp(min=1))[:, None]
            target = (yy[:, None] - mu) / sd
            m = mask[:, None]
            pred = model(sp, vec, s, r, ng, inv_n)
            loss = (((pred - target) * m) ** 2).sum() / real
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss.item()
            if step >= a.warmup:
                times.append(time.perf_counter() - t0)
                graphs += real
        med = float(np.median(times))
        print(f"{bs:>5} {1e3 * med:>10.2f} {1e3 * np.percentile(times, 90):>8.2f} "
              f"{graphs / a.steps / med:>9.0f} {batcher.n_edge:>12}")
        if a.csv:
            variant = "compile" if a.compile else "eager"
            append_csv(a.csv, f"torch,painn,{dev},{variant},{a.threads},{bs},{a.steps},"
                              f"{1e3 * med:.4f},{1e3 * np.percentile(times, 90):.4f},{graphs / a.steps / med:.1f},"
                              f"{batcher.n_edge},,,,,")


if __name__ == "__main__":
    main()
