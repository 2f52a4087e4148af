"""geobatch.advise in a JAX user's own loop: the study's SchNet (python/schnet_jax.py) under
`jax.jit` on QM9, a functional step `step(state, batch) -> state`; which batcher makes N
training steps fastest? Every candidate's N steps are planned exactly, the jitted step is probed
on real padded batches of each (XLA compiles once per new shape), and the total is predicted.
`--validate all` then runs every candidate for the N steps and prints predicted against measured.

    target/python-env/bin/python examples/python/advise_jax_schnet.py --steps 2000 --validate all
    ... --graphs 4000 --steps 100 --probe-seconds 20     # a quick look
"""

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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import advise_cli  # noqa: E402  (the advise examples' command line)


def main():
    ap = advise_cli.parser(__doc__, probe_seconds=60.0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    data = geobatch.load_dataset(args.config)
    train = data.splits["train"]
    if args.graphs:  # the first N molecules, fully connected as QM9's store holds them
        atoms = int(train.node_offsets[args.graphs])
        train = geobatch.GraphStore(
            train.n_node[: args.graphs], full=True, copy=False,
            nodes={k: v[:atoms] for k, v in train.nodes.items()},
            graphs={k: v[: args.graphs] for k, v in train.graphs.items()},
        )
    targets = train.graphs["targets"]
    ctx = SimpleNamespace(
        options={"latent": 64, "steps": 3}, seed=0, n_species=len(data.species_classes),
        n_targets=targets.shape[1], target_mean=targets.mean(0), target_std=targets.std(0),
        optimizer={"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
    )
    model = schnet_jax.SchNet(ctx)  # its jitted update: params, opt_state, lr, arrays
    lr = np.float32(1e-3)

    def step(state, batch):  # a functional step: the state in, the next state out
        p = batch.nodes["positions"]
        view = SimpleNamespace(
            species=batch.nodes["species"], node_graph=batch.node_graph, senders=batch.senders,
            receivers=batch.receivers, edge_vectors=p[batch.receivers] - p[batch.senders],
            n_node=batch.n_node,
        )
        params, opt_state, _ = model._update(*state, lr, *schnet_jax._graph(view),
                                             batch.graphs["targets"], batch.graph_mask)
        return params, opt_state

    advice = geobatch.advise(
        step, train,
        init=(model.params, model.opt_state), **advise_cli.advise_options(args),
        title=f"JAX SchNet, jax.jit, {len(train)} QM9 molecules, batch size {args.batch_size}",
    )
    print(advice)
    print(f"advised in {time.perf_counter() - t0:.0f} s; Planner(**{advice.options()})")
    advise_cli.keep(advice, args, "jax.jit")

if __name__ == "__main__":
    main()
