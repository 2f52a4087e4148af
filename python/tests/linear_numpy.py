"""A NumPy-only geobatch model for the tests of the `python` plugin: a linear model of the species
counts (prediction = counts @ w + b, in standardised units) trained with Adam.

Every call checks what the plugin promises, and raises when it does not hold: the arrays are
read-only views of the shared-memory segment (no copy, same mapping every step), they have the
jraph padding layout, and the shapes agree with the declared real and padded shapes.

Options (tests break the protocol on purpose with them):
    fail_at: raise ValueError in train_step at this step.
    crash_at: kill this worker (SIGKILL) in train_step at this step.
    exit_at: leave the worker with os._exit(3) at this step.
    hang_at: never return from train_step at this step (an endless sleep).
    bad_loss_at: return a string instead of the loss at this step.
    omit: name of a method the built model lacks.
    bad_predict: predict returns one row too few.
    loss_as: return the loss as "bool" (True), "int" (1) or "pair" (an array of two floats).
    predict_as: return predictions "transposed" (targets x graphs), as "int", "complex" or "nan".
    fork_exit_at: fork a child that sleeps holding the worker's pipes (as a DataLoader's workers
        do), write its pid to the file `pid_file`, and leave the worker with os._exit(3).
    input_at / breakpoint_at: call input() / breakpoint() in train_step at this step.
    log: a file that gets one line per train_step: step, padded nodes, edges, graphs, learning rate.
"""

import mmap
import os
import signal
import sys
import time

import numpy as np


def _mapped_base(a):
    """The object at the bottom of `a`'s base chain."""
    while isinstance(a, np.ndarray) and a.base is not None:
        a = a.base
    return a.obj if isinstance(a, memoryview) else a


def check_batch(batch):
    nodes, edges, graphs = batch.padded
    rn, re, rg = batch.real
    arrays = batch.arrays()
    for name, a in arrays.items():
        assert not a.flags.writeable, f"{name} is writeable: not a read-only view"
        assert not a.flags.owndata, f"{name} owns its data: it was copied"
        assert isinstance(_mapped_base(a), mmap.mmap), f"{name} is not a view of the segment"
    assert batch.species.shape == (nodes,) and batch.species.dtype == np.int32
    assert batch.positions.shape == (nodes, 3) and batch.positions.dtype == np.float32
    assert batch.senders.shape == (edges,) and batch.receivers.shape == (edges,)
    assert batch.senders.dtype == np.int32 and batch.receivers.dtype == np.int32
    assert batch.edge_vectors.shape == (edges, 3)
    assert batch.n_node.shape == (graphs,) and batch.n_edge.shape == (graphs,)
    assert batch.targets.shape == (graphs, batch.n_targets)
    assert batch.graph_mask.shape == (graphs,) and batch.graph_mask.dtype == np.bool_
    # jraph's pad_with_graphs: real graphs first, then one graph owning all padding
    assert int(batch.n_node.sum()) == nodes and int(batch.n_edge.sum()) == edges
    assert int(batch.n_node[:rg].sum()) == rn and int(batch.n_edge[:rg].sum()) == re
    assert batch.graph_mask[:rg].all() and not batch.graph_mask[rg:].any()
    assert batch.n_node[rg] == nodes - rn and (batch.n_node[rg + 1 :] == 0).all()
    assert (batch.receivers[1:] >= batch.receivers[:-1]).all(), "receivers not sorted"
    assert (batch.senders[re:] == rn).all() and (batch.receivers[re:] == rn).all()
    assert (batch.senders[:re] < rn).all() and (batch.receivers[:re] < rn).all()
    assert (batch.positions[rn:] == 0).all() and (batch.species[rn:] == 0).all()
    assert (batch.targets[rg:] == 0).all()
    expect = np.repeat(np.arange(graphs, dtype=np.int32), batch.n_node)
    assert (batch.node_graph == expect).all()
    # the edge vectors are receiver minus sender positions (no periodic cells in the tests)
    diff = batch.positions[batch.receivers[:re]] - batch.positions[batch.senders[:re]]
    assert np.allclose(diff, batch.edge_vectors[:re], atol=1e-4), "edge vectors"


class Linear:
    def __init__(self, ctx):
        self.opts = ctx.options
        self.n = ctx.n_species
        self.mean, self.std = ctx.target_mean, ctx.target_std
        rng = np.random.default_rng(ctx.seed)
        self.w = rng.normal(0, 0.1, (self.n, ctx.n_targets))
        self.b = np.zeros(ctx.n_targets)
        self.m = [np.zeros_like(self.w), np.zeros_like(self.b)]
        self.v = [np.zeros_like(self.w), np.zeros_like(self.b)]
        self.t = 0
        self.o = ctx.optimizer
        for name in str(self.opts.get("omit", "")).split(","):
            if name:
                setattr(self, name, None)

    def _counts(self, batch):
        rn, _, rg = batch.real
        counts = np.zeros((rg, self.n))
        np.add.at(counts, (batch.node_graph[:rn], batch.species[:rn]), 1.0)
        return counts

    def train_step(self, batch, step, learning_rate):
        check_batch(batch)
        if "log" in self.opts:
            nodes, edges, graphs = batch.padded
            with open(self.opts["log"], "a") as f:
                f.write(f"{step} {nodes} {edges} {graphs} {learning_rate!r}\n")
        if step == self.opts.get("fail_at"):
            raise ValueError(f"injected failure at step {step}")
        if step == self.opts.get("crash_at"):
            os.kill(os.getpid(), signal.SIGKILL)
        if step == self.opts.get("exit_at"):
            os._exit(3)
        if step == self.opts.get("hang_at"):
            print(f"hanging at step {step}", file=sys.stderr, flush=True)
            while True:
                time.sleep(1)
        if step == self.opts.get("bad_loss_at"):
            return "not a loss"
        if step == self.opts.get("fork_exit_at"):
            child = os.fork()
            if child == 0:
                time.sleep(300)
                os._exit(0)
            with open(self.opts["pid_file"], "w") as f:
                f.write(str(child))
            os._exit(3)
        if step == self.opts.get("input_at"):
            input("geobatch's protocol must not be readable here: ")
        if step == self.opts.get("breakpoint_at"):
            breakpoint()
        rg = batch.real[2]
        x = self._counts(batch)
        y = (batch.targets[:rg] - self.mean) / self.std
        err = x @ self.w + self.b - y
        loss = float(np.mean(err**2))
        gw = 2 * x.T @ err / err.size
        gb = 2 * err.sum(axis=0) / err.size
        self.t += 1
        b1, b2, eps = self.o["beta1"], self.o["beta2"], self.o["epsilon"]
        for i, (p, g) in enumerate([(self.w, gw), (self.b, gb)]):
            self.m[i] = b1 * self.m[i] + (1 - b1) * g
            self.v[i] = b2 * self.v[i] + (1 - b2) * g * g
            mh = self.m[i] / (1 - b1**self.t)
            vh = self.v[i] / (1 - b2**self.t)
            p -= learning_rate * mh / (np.sqrt(vh) + eps)
        return {"bool": True, "int": 1, "pair": np.array([loss, loss])}.get(
            self.opts.get("loss_as"), loss
        )

    def predict(self, batch):
        check_batch(batch)
        out = (self._counts(batch) @ self.w + self.b) * self.std + self.mean
        if self.opts.get("bad_predict"):
            return out[:-1]
        shown = {
            "transposed": lambda: out.T,
            "int": lambda: out.astype(np.int64),
            "complex": lambda: out.astype(np.complex128),
            "nan": lambda: np.full_like(out, np.nan),
        }.get(self.opts.get("predict_as"))
        return out if shown is None else shown()

    def parameter_count(self):
        return self.w.size + self.b.size

    def state(self):
        return {"w": self.w, "b": self.b, "m": self.m, "v": self.v, "t": self.t}

    def load_state(self, state):
        self.w, self.b, self.m, self.v, self.t = (
            state["w"], state["b"], state["m"], state["v"], state["t"],
        )


def build(ctx):
    return Linear(ctx)
