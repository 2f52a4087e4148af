"""The Python planner makes the plans of the ``geobatch`` command: same graphs, same shapes, for
the same config, seed and batcher (``geobatch batches --plans``)."""

import csv
import os
import pathlib
import subprocess

import numpy as np
import pytest

import geobatch
from conftest import BATCHERS, binary

REPO = pathlib.Path(__file__).resolve().parents[2]


def batcher_toml(kind, batch_size, options):
    parts = [f'kind = "{kind}"', f"batch_size = {batch_size}"]
    parts += [f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}" for k, v in options.items()]
    return "{ " + ", ".join(parts) + " }"


@pytest.mark.parametrize("kind,options", BATCHERS)
@pytest.mark.parametrize("batch_size,seed", [(32, 42), (16, 7)])
def test_plans_equal_the_clis(tmp_path, kind, options, batch_size, seed):
    geobatch_bin = binary()
    config = REPO / "configs/examples/qm9-dynamic.toml"
    # the split depends on the seed, as in the CLI
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        sizes = geobatch.load_dataset(str(config), seed=seed).splits["train"].sizes
    finally:
        os.chdir(cwd)
    steps = 60
    out = tmp_path / "plans.csv"
    subprocess.run(
        [geobatch_bin, "batches", str(config),
         "--steps", str(steps), "--plans", str(out),
         "--set", f"batcher={batcher_toml(kind, batch_size, options)}",
         "--set", f"experiment.seed={seed}",
         "--set", f'experiment.results_dir="{tmp_path / "results"}"',
         "--set", "sinks=[]"],
        cwd=REPO, check=True, capture_output=True, text=True, timeout=300,
    )
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == steps
    plan = geobatch.Planner(kind, batch_size, **options).plan_steps(sizes, seed=seed, steps=steps)
    for b, row in enumerate(rows):
        assert [int(g) for g in row["graphs"].split()] == plan[b].tolist(), b
        assert [int(row[k]) for k in ("padded_nodes", "padded_edges", "padded_graphs")] == plan.padded[b].tolist()
        assert [int(row[k]) for k in ("real_nodes", "real_edges", "real_graphs")] == plan.real[b].tolist()
