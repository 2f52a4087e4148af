"""geobatch.advise in a PyG user's own loop: stock PyG SchNet under `torch.compile(dynamic=False)`
on QM9; which batcher makes N training steps fastest? Every candidate's N steps are planned
exactly (their padded shapes), the user's own compiled step is probed on real batches of each,
and the total is predicted: a compile per new shape, a steady time per shape. `--validate all`
then runs every candidate for the N steps and prints predicted against measured.

    target/torch-env/bin/python examples/python/advise_pyg_schnet.py --steps 2000 --validate all
    ... --graphs 4000 --steps 100 --probe-seconds 30       # a quick look

Needs torch and torch_geometric (scripts/torch-env.sh) and, for all 130,831 molecules,
`geobatch data fetch qm9`. The step is the one of examples/python/pyg_schnet.py: SchNet on the
batch's own edges (`BatchEdges`), PyG's readout into `batch.max() + 1` graphs, the loss over the
real graphs (`graph_mask`). torch.compile recompiles one function at most
`torch._dynamo.config.cache_size_limit` times (8): the limit is raised here, as a user of static
batching must, else the shapes beyond run eagerly.
"""

import os
import sys
import time

import torch
from torch_geometric.nn.models import SchNet

import geobatch
import geobatch.torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import advise_cli  # noqa: E402  (the advise examples' command line)
from pyg_schnet import molecules  # noqa: E402  (the same Data as the example's)


def main():
    ap = advise_cli.parser(__doc__, probe_seconds=120.0)
    ap.add_argument("--backend", default="inductor",
                    help="torch.compile's backend (aot_eager: compiles in a fraction of the time)")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch._dynamo.config.cache_size_limit = 1024
    torch._dynamo.config.accumulated_cache_size_limit = 4096
    t0 = time.perf_counter()
    train = geobatch.load_dataset(args.config).splits["train"]
    data = molecules(train)
    if args.graphs:
        data = data[: args.graphs]
    print(f"{len(data)} molecules as PyG Data in {time.perf_counter() - t0:.1f} s", flush=True)

    edges = geobatch.torch.BatchEdges()  # SchNet's edges: the batch's own
    model = SchNet(hidden_channels=64, num_filters=64, num_interactions=3, num_gaussians=50,
                   cutoff=10.0, interaction_graph=edges)
    compiled = torch.compile(model, dynamic=False, backend=args.backend)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(batch):  # the user's training step, unchanged by asking
        edges.edge_index = batch.edge_index
        pred = compiled(batch.z, batch.pos, batch.batch)
        loss = ((pred - batch.y) ** 2)[batch.graph_mask].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    advice = geobatch.advise(
        step, data, state=[model, opt],
        **advise_cli.advise_options(args),
        title=f"PyG SchNet, torch.compile ({args.backend}), {len(data)} QM9 molecules, batch size {args.batch_size}",
    )
    print(advice)
    print(f"advised in {time.perf_counter() - t0:.0f} s; "
          f"geobatch.torch.DataLoader(data, **{advice.options()})")
    advise_cli.keep(advice, args, "torch.compile")

if __name__ == "__main__":
    main()
