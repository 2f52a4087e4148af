"""PyTorch counterpart of geobatch's PaiNN potential step (energy + forces + stress, DESIGN.md §16),
on the batches and initial weights geobatch wrote (`geobatch bench step CONFIG --dump DIR`).

The same math as plugins/model-painn read as a potential: edge vectors as the differentiated leaf
(padding edges moved 2 x cutoff along x), norm sqrt(|r|^2 + 1e-8), direction r / (norm + 1e-8),
Gaussians exp(-0.5 ((d - mu) / (cutoff / K))^2) on linspace(0, cutoff, K) times the cosine cutoff,
one filter Linear(K -> 3 F L) whose bias is scaled by the cutoff too; per layer the message
(x = MLP(s) gathered at the receivers, (ds, dv1, dv2) = W * x_j, dv = dv1 dir + dv2 v_j summed into
the senders, updates clipped at +-100) and the update (v_l, v_r from the bias-free mix,
|v_r| = sqrt(sum v_r^2 + 1e-8), MLP(s || |v_r|) -> a_ss, a_vv, a_sv; s += clip(a_ss + a_sv <v_r, v_l>),
v += clip(a_vv v_l)); per-atom readout summed per graph. Forces, stresses, loss and the timing as
bench/torch/schnet_forces.py (whose functions it shares): double backward, Adam.

    geobatch bench step configs/examples/mlearn-painn-forces.toml --batch-sizes 16 --dump /tmp/p16
    target/torch-env/bin/python bench/torch/painn_forces.py --dump /tmp/p16 --threads 2
"""

import math
import sys

import torch

import schnet_forces

CLIP = 100.0
EPS = 1e-8


class PainnPotential(schnet_forces.Weighted):
    """geobatch's PaiNN as a potential, its weights taken from weights.npz by path."""

    def __init__(self, weights, options, setup, dtype):
        super().__init__(weights, dtype)
        self.f, self.layers, self.k = options["hidden"], options["layers"], options["rbf"]
        self.cutoff = options["cutoff"]
        self.graph_cutoff = setup["cutoff"]
        self.scale = setup["scale"]

    def mlp(self, name, x):
        h = torch.nn.functional.silu(x @ self.w(f"{name}.first.weight") + self.w(f"{name}.first.bias"))
        return h @ self.w(f"{name}.second.weight") + self.w(f"{name}.second.bias")

    def energies(self, b, vectors):
        """Per-graph energies in units of scale `[G]` (padding graphs 0)."""
        f, k, rc = self.f, self.k, self.cutoff
        far = 2.0 * self.graph_cutoff if self.graph_cutoff is not None else 1000.0
        offset = torch.zeros_like(vectors)
        offset[b["real_edges"]:, 0] = far
        r = vectors + offset
        norm = torch.sqrt((r * r).sum(1, keepdim=True) + EPS)
        direction = r / (norm + EPS)
        fcut = 0.5 * (torch.cos(norm * (math.pi / rc)) + 1.0) * (norm < rc).to(r.dtype)
        step = rc / (k - 1) if k > 1 else 0.0
        centres = torch.arange(k, dtype=r.dtype, device=r.device) * step
        basis = torch.exp(-0.5 * ((norm - centres) / (rc / k)) ** 2) * fcut
        filters = basis @ self.w("filter.weight") + fcut * self.w("filter.bias")
        s = self.w("embed")[b["species"]]
        n = s.shape[0]
        snd, rcv = b["senders"], b["receivers"]
        v = torch.zeros(n, 3, f, dtype=r.dtype, device=r.device)
        for layer in range(self.layers):
            w = filters[:, 3 * f * layer:3 * f * (layer + 1)]
            m = w * self.mlp(f"layers.{layer}.message", s)[rcv]
            ds, dv1, dv2 = m[:, :f], m[:, f:2 * f], m[:, 2 * f:]
            dv = dv1[:, None, :] * direction[:, :, None] + dv2[:, None, :] * v[rcv]
            s = s + torch.zeros_like(s).index_add(0, snd, ds).clamp(-CLIP, CLIP)
            v = v + torch.zeros_like(v).index_add(0, snd, dv).clamp(-CLIP, CLIP)
            mix = self.w(f"layers.{layer}.mix")
            vl, vr = v @ mix[:, :f], v @ mix[:, f:]
            vr_norm = torch.sqrt((vr * vr).sum(1) + EPS)
            a = self.mlp(f"layers.{layer}.update", torch.cat([s, vr_norm], 1))
            a_ss, a_vv, a_sv = a[:, :f], a[:, f:2 * f], a[:, 2 * f:]
            s = s + (a_ss + a_sv * (vr * vl).sum(1)).clamp(-CLIP, CLIP)
            v = v + (a_vv[:, None, :] * vl).clamp(-CLIP, CLIP)
        per_atom = self.mlp("readout", s)[:, 0]
        g = b["mask"].shape[0]
        per_graph = torch.zeros(g, dtype=s.dtype, device=s.device).index_add(0, b["node_graph"], per_atom)
        return per_graph * b["mask"]


if __name__ == "__main__":
    schnet_forces.MODELS["painn"] = PainnPotential
    if "--model" not in sys.argv:
        sys.argv += ["--model", "painn"]
    schnet_forces.main()
