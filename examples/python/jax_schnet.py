"""Your own JAX training loop with geobatch's planner: the study's SchNet (python/schnet_jax.py)
trained on QM9 under `jax.jit`, batches planned by geobatch and collated into padded arrays,
handed on as a `jraph.GraphsTuple`. XLA compiles the step once per distinct padded shape: the plan
says in advance how many (`plan.shapes()`), and the loop counts the compiles it meets.

    target/python-env/bin/python examples/python/jax_schnet.py --batcher pack --epochs 3
    ... --batcher static64          # one compile per new shape: many
"""

import argparse
import os
import sys
import time
from types import SimpleNamespace

import numpy as np

import geobatch

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python")
)
import schnet_jax  # noqa: E402  (python/schnet_jax.py)

BATCHERS = {
    "pack": ("pack", {}),
    "dynamic": ("dynamic", {}),
    "static64": ("static", {"pad": "multiple64"}),
    "static2n": ("static", {"pad": "pow2"}),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batcher", choices=sorted(BATCHERS), default="pack")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", default="configs/examples/qm9-dynamic.toml")
    ap.add_argument("--graphs", type=int, default=0, help="the first N training molecules only (0: all)")
    args = ap.parse_args()
    import jax

    data = geobatch.load_dataset(args.config)
    train = data.splits["train"]
    kind, options = BATCHERS[args.batcher]
    planner = geobatch.Planner(kind, args.batch_size, **options)
    targets = train.graphs["targets"]
    ctx = SimpleNamespace(
        options={"latent": 64, "steps": 3}, seed=args.seed, n_species=len(data.species_classes),
        n_targets=targets.shape[1], target_mean=targets.mean(0), target_std=targets.std(0),
        optimizer={"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
    )
    model = schnet_jax.SchNet(ctx)
    compiles = [0]
    inner = model._update

    # a compile is a trace: the wrapper's Python body runs once per compile
    model._update = jax.jit(lambda *a: (compiles.__setitem__(0, compiles[0] + 1), inner(*a))[1])
    sizes = train.sizes[: args.graphs] if args.graphs else train.sizes  # plans over the first N
    plans = [planner.plan_epoch(sizes, seed=args.seed, epoch=e) for e in range(args.epochs)]
    capacity = np.max([p.padded.max(axis=0) for p in plans], axis=0)
    collator = train.collator(capacity)
    shapes = {s for p in plans for s in p.shapes()}
    print(f"{planner.label} bs {args.batch_size}: {sum(map(len, plans))} steps in {args.epochs} epochs, "
          f"{len(shapes)} distinct padded shapes planned")
    for e, plan in enumerate(plans):
        t0, losses = time.perf_counter(), []
        for b in range(len(plan)):
            batch = collator.collate_plan(plan, b)
            g = batch.to_jraph()
            p = g.nodes["positions"]
            edge_vectors = p[g.receivers] - p[g.senders]
            batch_view = SimpleNamespace(
                species=g.nodes["species"], node_graph=batch.node_graph, senders=g.senders,
                receivers=g.receivers, edge_vectors=edge_vectors, n_node=g.n_node,
                targets=g.globals["targets"], graph_mask=batch.graph_mask,
            )
            losses.append(model.train_step(batch_view, b, 1e-3))
        took = time.perf_counter() - t0
        print(f"epoch {e}: {len(plan)} steps, {took:.2f} s, mean loss {np.mean(losses):.3f}, "
              f"compiles so far {compiles[0]}")
    assert compiles[0] == len(shapes), (compiles[0], len(shapes))
    print(f"compiles: {compiles[0]} = distinct padded shapes planned ({len(shapes)})")


if __name__ == "__main__":
    main()
