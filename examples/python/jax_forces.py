"""Your own JAX interatomic potential trained on energies and forces with geobatch's batches: a
small SchNet-style model (species embeddings, Gaussian distances, continuous filters, a smooth
cutoff) whose energy is a function of the positions, forces as `-jax.grad(E)(positions)`,
periodic edge vectors rebuilt from the batch's integer `cell_offsets` and `cell`, and the loss's
gradient (a second-order one) taken by `jax.value_and_grad` inside one `jax.jit` step. Padded
batches (jraph's layout) compile once per padded shape; padding edges are 1000 A long, so the
padding atoms get exactly zero energy and force.

    target/python-env/bin/python examples/python/jax_forces.py --steps 20         # mlearn's fixture
    ... --source auto --elements Si --epochs 5 --batch-size 16                     # fetched mlearn
    ... --check                # the jitted padded step's gradients against jax.grad on unpadded graphs
"""

import argparse
import time

import numpy as np

import geobatch

CUTOFF = 5.0


def init(key, n_species, width=32, basis=16, blocks=2):
    import jax

    keys = iter(jax.random.split(key, 4 + 4 * blocks))

    def dense(i, o):
        return {"w": jax.random.normal(next(keys), (i, o)) / np.sqrt(i), "b": np.zeros(o, np.float32)}

    return {
        "embed": jax.random.normal(next(keys), (n_species, width)),
        "blocks": [{"filter": dense(basis, width), "mix": dense(width, width)} for _ in range(blocks)],
        "out": dense(width, 1),
        "scale": np.ones((), np.float32),
        "shift": np.zeros((), np.float32),
    }


def energies(params, species, positions, cell, cell_offsets, senders, receivers, node_graph, n_graph):
    """Per-graph energies: a pure function of ``positions`` (and of the cell, for a stress)."""
    import jax
    import jax.numpy as jnp

    g = node_graph[senders]
    # OCP's convention (docs/python.md): x_s + S.cell - x_r, the receiver's view of its neighbour
    vec = positions[senders] + jnp.einsum("ei,eij->ej", cell_offsets, cell[g]) - positions[receivers]
    r = jnp.sqrt(jnp.sum(vec * vec, axis=-1))
    mu = jnp.linspace(0.0, CUTOFF, params["blocks"][0]["filter"]["w"].shape[0])
    rbf = jnp.exp(-4.0 * (r[:, None] - mu) ** 2)
    fc = jnp.where(r < CUTOFF, 0.5 * (jnp.cos(jnp.pi * jnp.clip(r, 0.0, CUTOFF) / CUTOFF) + 1.0), 0.0)
    h = params["embed"][species]
    for block in params["blocks"]:
        w = jnp.tanh(rbf @ block["filter"]["w"] + block["filter"]["b"]) * fc[:, None]
        m = jax.ops.segment_sum(h[senders] * w, receivers, len(h))
        h = h + jnp.tanh(m @ block["mix"]["w"] + block["mix"]["b"])
    atom = (h @ params["out"]["w"] + params["out"]["b"])[:, 0] * params["scale"] + params["shift"]
    return jax.ops.segment_sum(atom, node_graph, n_graph)


def loss(params, b, n_graph, force_weight=10.0):
    """Energy per atom and force mean squared errors over the real graphs and atoms of a batch
    of ``n_graph`` graphs (padding included); forces ``-dE/dx``."""
    import jax
    import jax.numpy as jnp

    def total(x):
        e = energies(params, b["species"], x, b["cell"], b["cell_offsets"], b["senders"], b["receivers"],
                     b["node_graph"], n_graph)
        return jnp.sum(e * b["graph_mask"]), e

    (_, e), grad = jax.value_and_grad(total, has_aux=True)(b["positions"])
    forces = -grad
    atoms = jnp.maximum(b["n_node"], 1)
    de = jnp.where(b["graph_mask"], (e - b["energy"]) / atoms, 0.0)
    df = jnp.where(b["node_mask"][:, None], forces - b["forces"], 0.0)
    e_loss = jnp.sum(de**2) / jnp.maximum(jnp.sum(b["graph_mask"]), 1)
    f_loss = jnp.sum(df**2) / (3 * jnp.maximum(jnp.sum(b["node_mask"]), 1))
    return e_loss + force_weight * f_loss


def arrays(batch):
    """The step's inputs from a collated batch (``geobatch.PaddedBatch``)."""
    g = batch.to_jraph()
    node_mask = batch.node_graph < batch.real[2]
    return {
        "species": g.nodes["species"], "positions": g.nodes["positions"], "forces": g.nodes["forces"],
        "cell": g.globals["cell"], "cell_offsets": g.edges["cell_offsets"].astype(np.float32),
        "senders": g.senders, "receivers": g.receivers, "node_graph": batch.node_graph,
        "n_node": g.n_node, "energy": g.globals["targets"][:, 0], "graph_mask": batch.graph_mask,
        "node_mask": node_mask,
    }


def unpadded(store, g):
    """Graph ``g`` of the store alone, unpadded: the inputs of a loop without geobatch."""
    a, b = store.node_offsets[g], store.node_offsets[g + 1]
    ea, eb = store.edge_offsets[g], store.edge_offsets[g + 1]
    n = b - a
    return {
        "species": store.nodes["species"][a:b], "positions": store.nodes["positions"][a:b],
        "forces": store.nodes["forces"][a:b], "cell": store.graphs["cell"][g:g + 1],
        "cell_offsets": store.edges["cell_offsets"][ea:eb].astype(np.float32),
        "senders": store.senders[ea:eb], "receivers": store.receivers[ea:eb],
        "node_graph": np.zeros(n, np.int32), "n_node": np.array([n]),
        "energy": store.graphs["targets"][g:g + 1, 0], "graph_mask": np.ones(1, bool),
        "node_mask": np.ones(n, bool),
    }


def check(params, store, plan, collator):
    """The padded step's gradient of batch 0 against the gradients of its graphs one by one,
    unpadded: the loss is a mean over graphs (energies) and atoms (forces), so the unpadded
    gradients are weighted by 1/graphs and by atoms/atoms of the batch. Returns the largest
    relative difference over the parameters."""
    import jax

    def exact(b):  # float64 throughout: the comparison is of the sums, not of float32 rounding
        return {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in b.items()}

    # jitted, one compile per graph's shape: the energy term's gradient and the whole loss's
    both = jax.jit(lambda p, b: (jax.grad(loss)(p, b, 1, 0.0), jax.grad(loss)(p, b, 1)))
    batch = collator.collate_plan(plan, 0)
    padded = jax.jit(jax.grad(loss), static_argnums=2)(params, exact(arrays(batch)), batch.padded[2])
    graphs = [int(g) for g in plan[0]]
    atoms = sum(int(store.n_node[g]) for g in graphs)
    want = None
    for g in graphs:
        u = exact(unpadded(store, g))
        ge, gall = both(params, u)
        gf = jax.tree_util.tree_map(np.subtract, gall, ge)
        n = int(store.n_node[g])
        part = jax.tree_util.tree_map(lambda a, c: a / len(graphs) + c * n / atoms, ge, gf)
        want = part if want is None else jax.tree_util.tree_map(np.add, want, part)
    return max(float(np.max(np.abs(np.asarray(a) - np.asarray(c))) / (np.max(np.abs(np.asarray(c))) + 1e-30))
               for a, c in zip(jax.tree_util.tree_leaves(padded), jax.tree_util.tree_leaves(want)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="fixture", help="mlearn's source: fixture, auto (fetched) or a path")
    ap.add_argument("--elements", nargs="+", default=["Cu", "Ge", "Li", "Mo", "Ni", "Si"])
    ap.add_argument("--batcher", default="pack", choices=["pack", "dynamic", "atoms"])
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--steps", type=int, default=0, help="stop after N steps (0: every epoch)")
    ap.add_argument("--check", action="store_true", help="compare batch 0's gradients with unpadded graphs")
    args = ap.parse_args()
    import jax
    import optax

    jax.config.update("jax_enable_x64", args.check)
    data = geobatch.load_dataset(kind="mlearn", source=args.source, elements=args.elements,
                                 targets=["energy", "forces"], graph={"kind": "cutoff", "radius": CUTOFF})
    train = data.splits["train"]
    planner = geobatch.Planner(args.batcher, args.batch_size)
    plans = [planner.plan_epoch(train.sizes, seed=0, epoch=e) for e in range(args.epochs)]
    collator = train.collator(np.max([p.padded.max(axis=0) for p in plans], axis=0))
    params = init(jax.random.PRNGKey(0), len(data.species_classes))
    per_atom = train.graphs["targets"][:, 0] / train.n_node
    params["shift"] = np.float32(per_atom.mean())
    if args.check:
        worst = check(jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params), train, plans[0], collator)
        print(f"padded vs unpadded gradients: largest relative difference {worst:.2e}")
        return
    opt = optax.adam(1e-3)
    state = opt.init(params)
    compiles = [0]

    def update(params, state, b, n_graph):
        compiles[0] += 1  # runs once per compile (a trace)
        value, grads = jax.value_and_grad(loss)(params, b, n_graph)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, value

    step = jax.jit(update, static_argnums=3)  # one compile per padded shape
    shapes = {s for p in plans for s in p.shapes()}
    print(f"mlearn {'+'.join(args.elements)} ({data.source}): {len(train)} training structures, "
          f"{planner.label} bs {args.batch_size}, {len(shapes)} distinct padded shapes planned")
    taken, t0 = 0, time.perf_counter()
    for plan in plans:
        for b in range(len(plan)):
            batch = collator.collate_plan(plan, b)
            params, state, value = step(params, state, arrays(batch), batch.padded[2])
            taken += 1
            print(f"step {taken}: loss {float(value):.6f}")
            if taken == args.steps:
                break
        if taken == args.steps:
            break
    print(f"{taken} steps in {time.perf_counter() - t0:.1f} s, compiles: {compiles[0]} = shapes met")


if __name__ == "__main__":
    main()
