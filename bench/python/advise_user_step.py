"""A user's own SchNet-like step (not the shipped examples) under torch.compile (inductor) on full
QM9, asked of geobatch.advise at the API's default probe budget, every candidate validated in the
same process (docs/advise.md, "At the API's default probe budget"):

    target/torch-env/bin/python bench/python/advise_user_step.py 300 static:pad=multiple64,static:pad=pow2

QM9 from GEOBATCH_DATA (default: data, after `geobatch data fetch qm9`). bench/python/advise_cold.py
runs each candidate in a cold process of its own against the same step."""
import json
import os
import sys
import time

import numpy as np, torch
from torch_geometric.data import Data
import geobatch, geobatch.torch

steps = int(sys.argv[1]); cands = sys.argv[2].split(",")
train = geobatch.load_dataset(kind="qm9", data_dir=os.environ.get("GEOBATCH_DATA", "data"), targets=["U0"]).splits["train"]
z, pos, y, off = train.nodes["atomic_numbers"], train.nodes["positions"], train.graphs["targets"], train.node_offsets
y = (y - y.mean()) / y.std()
pattern = {}
def molecule(g):
    n = int(off[g + 1] - off[g])
    if n not in pattern:
        r, s = np.divmod(np.arange(n * n), n); keep = r != s
        pattern[n] = torch.from_numpy(np.stack([s[keep], r[keep]]))
    return Data(z=torch.from_numpy(z[off[g]:off[g + 1]].astype(np.int64)), pos=torch.from_numpy(pos[off[g]:off[g + 1]]),
                edge_index=pattern[n], y=torch.from_numpy(y[g:g + 1].astype(np.float32)))
dataset = [molecule(g) for g in range(len(train))]

class Net(torch.nn.Module):
    def __init__(self, h=64, rbf=50):
        super().__init__()
        self.emb = torch.nn.Embedding(10, h); self.mu = torch.linspace(0, 10, rbf)
        self.filt = torch.nn.ModuleList([torch.nn.Sequential(torch.nn.Linear(rbf, h), torch.nn.Softplus(), torch.nn.Linear(h, h)) for _ in range(3)])
        self.mix = torch.nn.ModuleList([torch.nn.Linear(h, h) for _ in range(3)])
        self.out = torch.nn.Sequential(torch.nn.Linear(h, h // 2), torch.nn.Softplus(), torch.nn.Linear(h // 2, 1))
    def forward(self, z, pos, edge_index, batch, n_graphs):
        s, r = edge_index
        d = (pos[s] - pos[r]).norm(dim=-1, keepdim=True)
        e = torch.exp(-(d - self.mu) ** 2)
        h = self.emb(z)
        for f, m in zip(self.filt, self.mix):
            h = h + m(torch.zeros_like(h).index_add(0, r, h[s] * f(e)))
        return torch.zeros(n_graphs, 1).index_add(0, batch, self.out(h))

torch.manual_seed(0)
model = Net(); torch._dynamo.config.cache_size_limit = 1024; torch._dynamo.config.accumulated_cache_size_limit = 4096
compiled = torch.compile(model, dynamic=False)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
def step(b):
    loss = ((compiled(b.z, b.pos, b.edge_index, b.batch, b.num_graphs) - b.y) ** 2)[b.graph_mask].mean()
    opt.zero_grad(); loss.backward(); opt.step()
    return loss
t0 = time.time()
advice = geobatch.advise(step, dataset, steps=steps, batch_size=32, state=[model, opt], candidates=cands, validate="all")
print(advice)
print("advise took", time.time() - t0)
print(json.dumps([{k: r.get(k) for k in ("label", "predicted_s", "measured_s", "error_pct", "new_shapes_extrapolated", "probe_spread_pct", "shapes")} for r in advice.ranked]))
