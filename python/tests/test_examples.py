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
    # the fixture's 800 training molecules, also where full QM9 was fetched
    out = run("jax_schnet.py", "--batcher", batcher, "--epochs", "1", "--graphs", "800")
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


def advise_rows(script, modules, tmp_path, *extra):
    for module in modules:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    table = tmp_path / "rows.csv"
    out = run(script, "--graphs", "800", "--steps", "24", "--probe-steps", "12",
              "--probe-seconds", "30", "--validate", "all", "--csv", str(table), *extra)
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    return out, rows


@pytest.mark.parametrize("script,modules,extra", [
    ("advise_jax_schnet.py", ("jax", "optax"), ()),
    ("advise_pyg_schnet.py", ("torch", "torch_geometric"), ("--backend", "aot_eager")),
])
def test_advise_examples_rank_every_candidate_and_measure_it(script, modules, extra, tmp_path):
    # the docs' worked examples, small: the four default candidates ranked, each planned for
    # the 24 steps, probed, and run for them (validate all), the table written as the docs read it
    out, rows = advise_rows(script, modules, tmp_path, *extra)
    assert sorted(r["batcher"] for r in rows) == ["dynamic", "pack", "static-2n", "static-64"], out
    assert [int(r["rank"]) for r in rows] == [1, 2, 3, 4], out
    for r in rows:
        assert int(r["steps"]) == 24 and int(r["measured_steps"]) == 24, r
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
