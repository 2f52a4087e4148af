"""PyG's SchNet trained as an interatomic potential (energies and conservative forces) on mlearn,
data-parallel under `torch.distributed` (DDP), geobatch's loader giving every rank its share of
each step's balanced batches.

`geobatch.torch.DataLoader` reads the rank and the world size from the initialised process group:
each rank gets as many batches as every other (a rank with fewer would leave the others waiting
in DDP's all-reduce for ever), and its batches are its share of the step's balanced plan. Start
it as you start any DDP script:

    torchrun --nproc_per_node 4 examples/python/ddp_forces.py          # or python -m torch.distributed.run
    srun -n 4 python examples/python/ddp_forces.py                     # SLURM: ranks from SLURM_PROCID
    python examples/python/ddp_forces.py --reference 4                 # one process, the same steps

Backend: gloo on CPUs, nccl where CUDA is available. Under srun, MASTER_ADDR (the first node's
address) must be set for more than one node; MASTER_PORT defaults to 29500 + the job id mod 1000.
`--reference W` trains in one process on the same global batches: each step, rank r's batch of
all W ranks, the loss the mean of the W batches' losses (DDP's gradient is the mean of the ranks'
gradients), so it prints the same losses as W ranks (tested to 1e-5, python/tests/test_ddp.py).
Each rank's step loss is averaged over the ranks before it is printed, and at the end the ranks
compare their parameters (equal to the bit, or the script fails).
"""

import argparse
import os
import sys
import time
from datetime import timedelta

import torch
import torch.distributed as dist
from torch_geometric.nn.models import SchNet

import geobatch
import geobatch.torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pyg_forces import CUTOFF, step_loss  # noqa: E402  (examples/python/pyg_forces.py)


def join(timeout: float):
    """Initialises the process group from torchrun's variables (RANK, WORLD_SIZE, MASTER_ADDR,
    MASTER_PORT) or SLURM's (SLURM_PROCID, SLURM_NTASKS); returns False when started alone."""
    env = os.environ
    if "RANK" not in env and "SLURM_PROCID" in env:
        env["RANK"], env["WORLD_SIZE"] = env["SLURM_PROCID"], env["SLURM_NTASKS"]
        env["LOCAL_RANK"] = env.get("SLURM_LOCALID", "0")
        if "MASTER_ADDR" not in env:
            if int(env.get("SLURM_NNODES", "1")) > 1:
                sys.exit("srun over several nodes: set MASTER_ADDR to the first node's address")
            env["MASTER_ADDR"] = "127.0.0.1"
        env.setdefault("MASTER_PORT", str(29500 + int(env.get("SLURM_JOB_ID", "0")) % 1000))
    if "RANK" not in env:
        return False
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    # a bounded wait: a rank that never comes (or a step that one rank never takes) is an error
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout))
    return True


def same_everywhere(value: int, what: str):
    """Fails on every rank unless `value` is the same on every rank."""
    values = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    if len(set(values)) != 1:
        raise SystemExit(f"rank {dist.get_rank()}: {what} differs between ranks: {values}")


def parameters_of(model):
    """The model's parameters as one float64 vector."""
    return torch.cat([p.detach().reshape(-1).double() for p in model.parameters()])


def build(args):
    """(train store, energy shift per atom, SchNet, its periodic edges)."""
    data = geobatch.load_dataset(kind="mlearn", source=args.source, elements=args.elements,
                                 targets=["energy", "forces"], graph={"kind": "cutoff", "radius": CUTOFF})
    train = data.splits["train"]
    shift = float((train.graphs["targets"][:, 0] / train.n_node).mean())
    torch.manual_seed(0)
    edges = geobatch.torch.BatchEdges()
    model = SchNet(hidden_channels=32, num_filters=32, num_interactions=2, num_gaussians=25,
                   cutoff=CUTOFF, interaction_graph=edges)
    return train, shift, model, edges


def ranks(args, train, shift, model, edges):
    """This rank's loop under DDP: one batch a step, the gradients averaged by DDP."""
    world, rank = dist.get_world_size(), dist.get_rank()
    loader = geobatch.torch.DataLoader(train, args.batcher, args.batch_size, seed=0)
    assert (loader.sampler.rank, loader.sampler.world_size) == (rank, world)
    same_everywhere(len(loader), "the number of steps an epoch")
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.Adam(ddp.parameters(), lr=1e-3)
    if rank == 0:
        print(f"{world} ranks ({dist.get_backend()}), {len(train)} training structures, "
              f"{args.batcher} bs {args.batch_size}: {len(loader)} steps an epoch on every rank")
    taken = 0
    for epoch in range(args.epochs):
        loader.set_epoch(epoch)
        for batch in loader:
            loss = step_loss(ddp, edges, batch, shift)
            opt.zero_grad()
            loss.backward()
            opt.step()
            taken += 1
            mean = loss.detach().clone()
            dist.all_reduce(mean)
            if rank == 0:
                print(f"step {taken}: loss {mean.item() / world:.7f}", flush=True)
    same_everywhere(taken, "the number of steps taken")
    mine = parameters_of(model)
    first = mine.clone()
    dist.broadcast(first, 0)
    same_everywhere(bool(torch.equal(mine, first)), "whether the parameters equal rank 0's")
    if rank == 0:
        print(f"parameters equal on all {world} ranks after {taken} steps")
    return taken


def reference(args, train, shift, model, edges):
    """One process fed the W ranks' batches of each step: the mean of their losses."""
    w = args.reference or 1
    loaders = [geobatch.torch.DataLoader(train, args.batcher, args.batch_size, seed=0, rank=r,
                                         world_size=w) for r in range(w)]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    print(f"one process as {w} ranks, {len(train)} training structures, {args.batcher} bs "
          f"{args.batch_size}: {len(loaders[0])} steps an epoch")
    taken = 0
    for epoch in range(args.epochs):
        for loader in loaders:
            loader.set_epoch(epoch)
        for batches in zip(*loaders, strict=True):
            loss = sum(step_loss(model, edges, b, shift) for b in batches) / w
            opt.zero_grad()
            loss.backward()
            opt.step()
            taken += 1
            print(f"step {taken}: loss {loss.item():.7f}", flush=True)
    return taken


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="fixture", help="mlearn's source: fixture, auto (fetched) or a path")
    ap.add_argument("--elements", nargs="+", default=["Cu", "Ge", "Li", "Mo", "Ni", "Si"])
    ap.add_argument("--batcher", default="pack", help="geobatch batcher (pack, dynamic, atoms, static)")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--reference", type=int, default=0, metavar="W",
                    help="train in one process on the batches of W ranks")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds a rank waits for the others")
    args = ap.parse_args()
    if args.reference and "RANK" in os.environ:
        sys.exit("--reference trains in one process: start it without torchrun")
    distributed = not args.reference and join(args.timeout)
    parts = build(args)
    t0 = time.perf_counter()
    try:
        if distributed:
            taken = ranks(args, *parts)
        else:
            taken = reference(args, *parts)
    finally:
        if distributed:
            dist.destroy_process_group()
    if not distributed or int(os.environ["RANK"]) == 0:
        print(f"{taken} steps in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
