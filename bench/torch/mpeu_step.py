"""PyTorch counterpart of geobatch's MPEU training step, for timing comparisons only.

The same math as plugins/model-mpeu (the study's MPEU, spec §3.1, §3.3): no biases, truncated
normal init with std 1/sqrt(fan_in), 150 Gaussians as SchNet; per step, with its own weights, the
edge update Linear(2C) -> ssp -> Linear(C) of concat(h_sender, h_receiver, e) (input 2C + 150 in
step 1, 3C afterwards), the message ssp(ssp(e W1) W2) * Linear(C)(h_sender), mean aggregation over
incoming edges and the residual node update Linear(C) -> ssp -> Linear(C); readout as SchNet.
Batches, loss, optimiser and timing as in schnet_step.py.

    .venv/bin/python bench/torch/mpeu_step.py [--data data/qm9/qm9.parquet] [--threads 2] [--device cuda]
"""

import torch

from schnet_step import dense, gaussians, main, mean_readout, ssp


class Mpeu(torch.nn.Module):
    def __init__(self, n_species, c=64, steps=3, k=150, seed=42):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.k, self.delta, self.steps = k, 0.1, steps
        self.embed = dense(n_species, c, gen)
        self.edge = torch.nn.ParameterList()
        self.message = torch.nn.ParameterList()
        self.node_in = torch.nn.ParameterList()
        self.updates = torch.nn.ParameterList()
        for t in range(steps):
            self.edge.extend([dense(2 * c + k if t == 0 else 3 * c, 2 * c, gen), dense(2 * c, c, gen)])
            self.message.extend([dense(c, c, gen), dense(c, c, gen)])
            self.node_in.append(dense(c, c, gen))
            self.updates.extend([dense(c, c, gen), dense(c, c, gen)])
        self.readout = torch.nn.ParameterList([dense(c, c // 2, gen), dense(c // 2, 1, gen)])
        self.register_buffer("centres", torch.arange(k, dtype=torch.float32) * self.delta)

    def forward(self, species, d, senders, receivers, inv_deg, node_graph, inv_n):
        e = gaussians(d, self.centres, self.delta)
        h = self.embed[species]
        for t in range(self.steps):
            x = torch.cat([h[senders], h[receivers], e], 1)
            e = ssp(x @ self.edge[2 * t]) @ self.edge[2 * t + 1]
            m = ssp(ssp(e @ self.message[2 * t]) @ self.message[2 * t + 1]) * (h @ self.node_in[t])[senders]
            agg = torch.zeros_like(h).index_add_(0, receivers, m) * inv_deg
            h = h + ssp(agg @ self.updates[2 * t]) @ self.updates[2 * t + 1]
        return mean_readout(h, self.readout, node_graph, inv_n)


if __name__ == "__main__":
    main(Mpeu)
