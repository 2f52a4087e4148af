"""PyTorch counterpart of geobatch's SchNet potential step (energy + forces + stress, DESIGN.md §16),
on the batches and initial weights geobatch wrote (`geobatch bench step CONFIG --dump DIR`).

The same math as plugins/model-schnet read as a potential (crates/nn/src/potential.rs): edge vectors
as the differentiated leaf, padding edges moved 2 x cutoff along x, distances, 0.1 A Gaussians
exp(-(d - k delta)^2 / delta) times the cosine envelope of the cutoff, filter MLP (shifted softplus
after both layers), messages summed over incoming edges, residual update, readout MLP, per-graph
sums; E = scale * sum + reference energies; forces from dE/dv summed by sender minus by receiver
(torch.autograd.grad with create_graph=True: the double backward), stress (1/V) sum v (x) dE/dv;
loss w_E mse(E/N)/s_E + w_F mse(F)/s_F + w_S mse(stress)/s_S; Adam.

1. Checks: the first batch's loss before any update and its predicted energies, forces and
   stresses against geobatch's (first.json).
2. Times the whole step (forward, double backward, Adam) over the dumped batches in turn:
   median and p90 after warm-up, at --threads threads, on --device (cpu, or cuda: the GPU A/B of
   scripts/gpu-ab.sh, which appends the row to its CSV with --csv).

    geobatch bench step configs/examples/mlearn-schnet-forces.toml --batch-sizes 16 --dump /tmp/d16
    target/torch-env/bin/python bench/torch/schnet_forces.py --dump /tmp/d16 --threads 2
"""

import argparse
import glob
import json
import math
import os
import time

import numpy as np
import torch

from schnet_step import append_csv

LN2 = math.log(2.0)


def ssp(x):
    return torch.nn.functional.softplus(x) - LN2


class Weighted(torch.nn.Module):
    """A potential whose weights are weights.npz's arrays, each a parameter read by its path."""

    def __init__(self, weights, dtype):
        super().__init__()
        p = {k: torch.nn.Parameter(torch.tensor(weights[k], dtype=dtype)) for k in weights.files}
        self.params = torch.nn.ParameterDict({k.replace(".", "_"): v for k, v in p.items()})

    def w(self, name):
        return self.params[name.replace(".", "_")]


class SchNetPotential(Weighted):
    """geobatch's SchNet as a potential, its weights taken from weights.npz by path."""

    def __init__(self, weights, options, setup, dtype):
        super().__init__(weights, dtype)
        self.steps = options["steps"]
        self.rbf = options["rbf"]
        self.delta = options["rbf_spacing"]
        self.cutoff = setup["cutoff"]
        self.scale = setup["scale"]

    def energies(self, b, vectors):
        """Per-graph energies in units of scale `[G]` (padding graphs 0)."""
        e = vectors.shape[0]
        real_edges = b["real_edges"]
        far = 2.0 * self.cutoff if self.cutoff is not None else 1000.0
        offset = torch.zeros_like(vectors)
        offset[real_edges:, 0] = far
        v = vectors + offset
        d = torch.sqrt((v * v).sum(1, keepdim=True))
        centres = torch.arange(self.rbf, dtype=v.dtype, device=v.device) * self.delta
        basis = torch.exp(-((d - centres) ** 2) / self.delta)
        env = None
        if self.cutoff is not None:
            env = 0.5 * (torch.cos(d * (math.pi / self.cutoff)) + 1.0) * (d < self.cutoff).to(v.dtype)
        h = self.w("embed.weight")[b["species"]]
        n = h.shape[0]
        for t in range(self.steps):
            f = ssp(basis @ self.w(f"interactions.{t}.filter.layers.0.weight"))
            f = ssp(f @ self.w(f"interactions.{t}.filter.layers.1.weight"))
            if env is not None:
                f = f * env
            xj = (h @ self.w(f"interactions.{t}.node_in.weight"))[b["senders"]]
            agg = torch.zeros(n, h.shape[1], dtype=h.dtype, device=h.device)
            agg = agg.index_add_(0, b["receivers"], f * xj)
            u = ssp(agg @ self.w(f"interactions.{t}.update.layers.0.weight"))
            h = h + u @ self.w(f"interactions.{t}.update.layers.1.weight")
        per_atom = ssp(h @ self.w("readout.layers.0.weight")) @ self.w("readout.layers.1.weight")
        g = b["mask"].shape[0]
        per_graph = torch.zeros(g, dtype=h.dtype, device=h.device)
        per_graph = per_graph.index_add_(0, b["node_graph"], per_atom[:, 0])
        return per_graph * b["mask"]


#: the potentials by their model kind (painn_forces.py adds PaiNN)
MODELS = {"schnet": SchNetPotential}


def prepare(path, setup, classes_energy, dtype):
    z = np.load(path)
    b = {k: torch.tensor(z[k]) for k in z.files}
    mask = b["graph_mask"].to(torch.bool)
    n_node = b["n_node"]
    real_graphs = int(mask.sum())
    real_nodes = int(n_node[:real_graphs].sum())
    # real edges: those of the real graphs (padding edges are last, on the first padding node)
    recv = b["receivers"]
    real_edges = int((recv < real_nodes).sum())
    species = b["species"].long()
    node_graph = b["node_graph"].long()
    refs = torch.zeros(mask.shape[0], dtype=torch.float64)
    refs.index_add_(0, node_graph[:real_nodes], classes_energy[species[:real_nodes]])
    cells = b["cells"].double().reshape(-1, 3, 3)
    vol = torch.linalg.det(cells).abs()
    inv_volume = torch.where(vol > 0, 1.0 / vol.clamp_min(1e-30), torch.zeros_like(vol))
    inv_volume[real_graphs:] = 0.0
    inv_atoms = torch.zeros(mask.shape[0], dtype=torch.float64)
    inv_atoms[:real_graphs] = 1.0 / n_node[:real_graphs].double()
    atom_mask = torch.zeros(species.shape[0], dtype=dtype)
    atom_mask[:real_nodes] = 1.0
    return {
        "species": species,
        "senders": b["senders"].long(),
        "receivers": recv.long(),
        "node_graph": node_graph,
        "mask": mask.to(dtype),
        "vectors": b["vectors"].to(dtype),
        "residual": (b["energy"] - refs).to(dtype) * mask.to(dtype),
        "references": refs,
        "inv_atoms": inv_atoms.to(dtype),
        "atom_mask": atom_mask,
        "forces": b["forces"].to(dtype),
        "stress": b["stress"].to(dtype),
        "stress_weight": b["stress_weight"].to(dtype),
        "inv_volume": inv_volume.to(dtype),
        "edge_graph": node_graph[recv.long()],
        "real_graphs": real_graphs,
        "real_nodes": real_nodes,
        "real_edges": real_edges,
    }


def outputs(model, b, create_graph):
    """Energies (units of scale), forces and stresses (units of scale) of a batch."""
    v = b["vectors"].clone().requires_grad_(True)
    e = model.energies(b, v)
    (dv,) = torch.autograd.grad(e.sum(), v, create_graph=create_graph)
    n = b["species"].shape[0]
    forces = torch.zeros(n, 3, dtype=dv.dtype, device=dv.device).index_add_(0, b["senders"], dv)
    forces = forces - torch.zeros(n, 3, dtype=dv.dtype, device=dv.device).index_add_(0, b["receivers"], dv)
    outer = (b["vectors"][:, :, None] * dv[:, None, :]).reshape(-1, 9)
    g = b["mask"].shape[0]
    virial = torch.zeros(g, 9, dtype=dv.dtype, device=dv.device).index_add_(0, b["edge_graph"], outer)
    sym = 0.5 * (virial + virial.reshape(g, 3, 3).transpose(1, 2).reshape(g, 9))
    return e, forces, sym * b["inv_volume"][:, None]


def loss_of(model, b, setup, create_graph=True):
    e, f, s = outputs(model, b, create_graph)
    scale, (se, sf, ss), w = setup["scale"], setup["spread"], setup["weights"]
    per_atom = (e * scale - b["residual"]) * b["inv_atoms"]
    loss = (per_atom**2).sum() * (w["energy"] / (max(b["real_graphs"], 1) * se))
    err = (f * scale - b["forces"]) * b["atom_mask"][:, None]
    loss = loss + (err**2).sum() * (w["forces"] / (3.0 * max(b["real_nodes"], 1) * sf))
    known = float(b["stress_weight"].sum())
    if setup["stress"] and w["stress"] > 0 and known > 0:
        err = (s * scale - b["stress"]) * b["stress_weight"][:, None]
        loss = loss + (err**2).sum() * (w["stress"] / (9.0 * known * ss))
    return loss, (e, f, s)


def check(model, batches, setup, first):
    b = batches[0]
    loss, (e, f, s) = loss_of(model, b, setup)
    scale = setup["scale"]
    g, n = b["real_graphs"], b["real_nodes"]
    energy = e[:g].double() * scale + b["references"][:g]
    ours = np.array(first["energy"])
    forces = (f[:n] * scale).detach().double().cpu().numpy()
    theirs = np.array(first["forces"])
    stress = (s[:g] * scale).detach().double().cpu().numpy()
    theirs_s = np.array(first["stress"])
    rel = abs(float(loss) - first["loss"]) / abs(first["loss"])
    print(f"loss at step 1: pytorch {float(loss):.8g}, geobatch {first['loss']:.8g}, relative difference {rel:.2e}")
    print(f"energies: largest difference {np.abs(energy.detach().cpu().numpy() - ours).max():.3e} eV")
    fd = np.abs(forces - theirs).max()
    print(f"forces: largest difference {fd:.3e} eV/A (largest force {np.abs(theirs).max():.3f})")
    print(f"stress: largest difference {np.abs(stress - theirs_s).max():.3e} eV/A^3")
    return rel, fd


def on_device(b, dev):
    """The batch `b` with its tensors moved to `dev`."""
    return {k: v.to(dev) if torch.is_tensor(v) else v for k, v in b.items()}


def time_steps(model, batches, setup, steps, warmup, lr):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    times = []
    for k in range(warmup + steps):
        b = batches[k % len(batches)]
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss, _ = loss_of(model, b, setup)
        loss.backward()
        opt.step()
        float(loss)
        if k >= warmup:
            times.append(time.perf_counter() - t0)
    times = np.array(times) * 1e3
    return float(np.median(times)), float(np.quantile(times, 0.9))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dump", required=True, help="a folder written by geobatch bench step --dump")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--check-only", action="store_true")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    ap.add_argument("--csv", help="also append the timing row to this CSV file (scripts/gpu-ab.sh's columns)")
    ap.add_argument("--model", choices=sorted(MODELS), default="schnet",
                    help="the dumped model (painn: bench/torch/painn_forces.py)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    meta = json.load(open(os.path.join(args.dump, "setup.json")))
    setup, options = meta["setup"], meta["model"]
    first = json.load(open(os.path.join(args.dump, "first.json")))
    weights = np.load(os.path.join(args.dump, "weights.npz"))
    dev = torch.device(args.device)
    model = MODELS[args.model](weights, options, setup, dtype).to(dev)
    e0 = torch.tensor(setup["atom_energies"], dtype=torch.float64)
    files = sorted(glob.glob(os.path.join(args.dump, "batch-*.npz")))
    batches = [on_device(prepare(f, setup, e0, dtype), dev) for f in files]
    rel, fd = check(model, batches, setup, first)
    if args.check_only:
        return
    median, p90 = time_steps(model, batches, setup, args.steps, args.warmup, meta["optimizer"]["learning_rate"])
    edges = int(np.median([b["senders"].shape[0] for b in batches]))
    print(
        f"pytorch {torch.__version__} {args.model} energy+forces step, bs {meta['batch_size']}, {args.threads} threads: "
        f"median {median:.2f} ms, p90 {p90:.2f} ms over {args.steps} steps ({len(batches)} batches, {edges} padded edges)"
    )
    if args.csv:
        graphs = float(np.mean([b["real_graphs"] for b in batches]))
        append_csv(args.csv, f"torch,{args.model},{args.device},eager,{args.threads},{meta['batch_size']},{args.steps},"
                             f"{median:.4f},{p90:.4f},{graphs * 1e3 / median:.1f},{edges},,,,,")
    print(json.dumps({"engine": "pytorch", "bs": meta["batch_size"], "threads": args.threads, "median_ms": median,
                      "p90_ms": p90, "loss_rel_diff": rel, "force_max_diff": fd}))


if __name__ == "__main__":
    main()
