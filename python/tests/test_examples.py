"""The examples in examples/python run as a user runs them: one epoch on the QM9 fixture, the
compiles they count equal to the padded shapes geobatch planned."""

import csv
import importlib.util
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples/python"


def run(script, *args):
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize("batcher", ["pack", "static64"])
def test_jax_example_compiles_once_per_planned_shape(batcher):
    for module in ("jax", "optax"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (scripts/python-env.sh installs it)")
    # the fixture's first 96 training molecules (XLA compiles each of static-64's shapes for
    # about 3 s here: 800 molecules took 56 s)
    out = run("jax_schnet.py", "--batcher", batcher, "--epochs", "1", "--graphs", "96")
    planned = int(re.search(r"(\d+) distinct padded shapes planned", out).group(1))
    compiles = int(re.search(r"compiles: (\d+) =", out).group(1))
    assert compiles == planned, out
    if batcher == "pack":
        assert planned == 1, out
    else:
        assert planned > 1, out


def test_pyg_example_compiles_once_with_geobatchs_padding():
    for module in ("torch", "torch_geometric"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (docs/python.md: the torch environment)")
    out = run("pyg_schnet.py", "--loader", "geobatch", "--epochs", "2", "--backend", "aot_eager",
              "--graphs", "800")
    counts = [int(c) for c in re.findall(r"compiles so far (\d+)", out)]
    # PyG's SchNet breaks its graph once (the readout's size is read back): the graphs of the
    # first step, and not one more in two epochs
    assert len(counts) == 2 and counts[0] >= 1 and counts[1] == counts[0], out


def advise_rows(script, modules, tmp_path, size, *extra):
    for module in modules:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    table = tmp_path / "rows.csv"
    out = run(script, *size, "--probe-steps", "12", "--validate", "all", "--csv", str(table), *extra)
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    return out, rows


# the docs' worked examples, small, each candidate planned for the steps, probed, and run for
# them (validate all), the table written as the docs read it. PyG's: the four default
# candidates. JAX's: one shape (dynamic) against one compile per shape (static-64) at batch
# size 8, because XLA compiles each new shape for about 3 s here (the four at size 32 took 135 s)
@pytest.mark.parametrize("script,modules,extra,size,labels", [
    ("advise_jax_schnet.py", ("jax", "optax"), ("--candidates", "dynamic,static:pad=multiple64"),
     ("--graphs", "256", "--batch-size", "8", "--probe-seconds", "10", "--steps", "12"),
     ["dynamic", "static-64"]),
    ("advise_pyg_schnet.py", ("torch", "torch_geometric"), ("--backend", "aot_eager"),
     ("--graphs", "800", "--probe-seconds", "30", "--steps", "24"),
     ["dynamic", "pack", "static-2n", "static-64"]),
])
def test_advise_examples_rank_every_candidate_and_measure_it(script, modules, extra, size, labels,
                                                            tmp_path):
    out, rows = advise_rows(script, modules, tmp_path, size, *extra)
    steps = int(size[-1])
    assert sorted(r["batcher"] for r in rows) == labels, out
    assert [int(r["rank"]) for r in rows] == list(range(1, len(labels) + 1)), out
    for r in rows:
        assert int(r["steps"]) == steps and int(r["measured_steps"]) == steps, r
        assert float(r["predicted_s"]) > 0 and float(r["measured_s"]) > 0, r
        assert int(r["shapes"]) >= 1 and float(r["steady_ms"]) > 0, r
    assert "advised in" in out, out


def losses_of(out):
    return [float(x) for x in re.findall(r"step \d+: loss ([-\d.e+]+)", out)]


def test_jax_forces_example_compiles_once_and_its_gradients_are_unpadded_ones():
    for module in ("jax", "optax"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (scripts/python-env.sh installs it)")
    out = run("jax_forces.py")
    planned = int(re.search(r"(\d+) distinct padded shapes planned", out).group(1))
    assert int(re.search(r"compiles: (\d+) =", out).group(1)) == planned == 1, out
    losses = losses_of(out)
    assert len(losses) == 14 and all(np.isfinite(losses)), out
    worst = float(re.search(r"largest relative difference ([-\d.e+]+)", run("jax_forces.py", "--check")).group(1))
    assert worst < 1e-12, worst


def test_pyg_forces_example_losses_equal_pygs_own_loader():
    for module in ("torch", "torch_geometric"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (docs/python.md: the torch environment)")
    ours = losses_of(run("pyg_forces.py", "--loader", "geobatch"))
    theirs = losses_of(run("pyg_forces.py", "--loader", "pyg"))
    assert len(ours) == len(theirs) == 14
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
