"""The node-level NumPy module of the `python` plugin's tests: python/sgc_numpy.py with every call
checking what the plugin promises for node batches (read-only views of the shared segment, the
local CSR layout, outputs and labels), raising when it does not hold.

Options (besides sgc_numpy's):
    log: a file that gets one line per train_step: step, nodes, entries, outputs, learning rate.
    fail_at: raise ValueError in train_step at this step.
    bad_predict: predict returns one class column too few.
"""

import mmap
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import sgc_numpy  # noqa: E402
from linear_numpy import _mapped_base  # noqa: E402  (beside this file)


def check_batch(batch):
    nodes, entries, outputs = batch.padded
    assert batch.real == batch.padded, "node batches are not padded"
    for name, a in batch.arrays().items():
        assert not a.flags.writeable, f"{name} is writeable: not a read-only view"
        assert not a.flags.owndata, f"{name} owns its data: it was copied"
        assert isinstance(_mapped_base(a), mmap.mmap), f"{name} is not a view of the segment"
    assert batch.nodes.shape == (nodes,) and batch.nodes.dtype == np.int32
    assert (np.diff(batch.nodes) > 0).all(), "global ids not ascending"
    assert batch.features.shape == (nodes, batch.n_features)
    assert batch.features.dtype == np.float32
    assert batch.row_ptr.shape == (nodes + 1,) and batch.row_ptr[-1] == entries
    for name in ("rows", "cols", "values", "mean_values"):
        assert getattr(batch, name).shape == (entries,), name
    assert (np.diff(batch.rows) >= 0).all(), "rows not sorted"
    assert (np.repeat(np.arange(nodes), np.diff(batch.row_ptr)) == batch.rows).all(), "CSR"
    assert ((batch.cols >= 0) & (batch.cols < nodes)).all()
    # every node keeps its self-loop; the in-batch mean weights of a row sum to one
    loops = np.zeros(nodes, dtype=bool)
    loops[batch.rows[batch.rows == batch.cols]] = True
    assert loops.all(), "a node without its self-loop"
    sums = np.zeros(nodes)
    np.add.at(sums, batch.rows, batch.mean_values)
    assert np.allclose(sums, 1.0, atol=1e-5), "mean values"
    assert (batch.values > 0).all() and (batch.values <= 1).all()
    assert batch.full_entries >= entries
    assert batch.outputs.shape == (outputs,) and batch.labels.shape == (outputs,)
    assert (np.flatnonzero(batch.out_mask) == batch.outputs).all(), "out_mask vs outputs"
    assert ((batch.labels >= -1) & (batch.labels < batch.n_classes)).all()
    # the output rows are the outputs' rows of the CSR
    want = np.concatenate(
        [np.full(batch.row_ptr[o + 1] - batch.row_ptr[o], i) for i, o in enumerate(batch.outputs)]
        or [np.zeros(0, dtype=np.int64)]
    )
    assert (batch.out_rows == want).all(), "out_rows"
    picked = np.concatenate(
        [np.arange(batch.row_ptr[o], batch.row_ptr[o + 1]) for o in batch.outputs]
        or [np.zeros(0, dtype=np.int64)]
    )
    assert (batch.out_cols == batch.cols[picked]).all(), "out_cols"
    assert (batch.out_values == batch.values[picked]).all(), "out_values"
    assert (batch.out_mean_values == batch.mean_values[picked]).all(), "out_mean_values"


class Checked(sgc_numpy.Sgc):
    def __init__(self, ctx):
        super().__init__(ctx)
        assert ctx.task == "node"
        self.opts = ctx.options

    def train_step(self, batch, step, learning_rate):
        check_batch(batch)
        if "log" in self.opts:
            nodes, entries, outputs = batch.padded
            with open(self.opts["log"], "a") as f:
                f.write(f"{step} {nodes} {entries} {outputs} {learning_rate!r}\n")
        if step == self.opts.get("fail_at"):
            raise ValueError(f"injected failure at step {step}")
        return super().train_step(batch, step, learning_rate)

    def predict(self, batch):
        check_batch(batch)
        scores = super().predict(batch)
        if self.opts.get("bad_predict"):
            return scores[:, :-1]
        return scores


def build(ctx):
    return Checked(ctx)
