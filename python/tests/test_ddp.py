"""examples/python/ddp_forces.py in real torch.distributed runs (gloo): PyG's SchNet with
conservative forces on the mlearn fixture, 2 and 4 ranks under torchrun and under SLURM's srun,
every rank taking as many steps, the parameters equal on every rank at the end, and the step
losses equal (1e-5) to one process fed the same global batches (`--reference W`).

The interpreter: GEOBATCH_TORCH_PYTHON, else target/ddp-env (scripts/ddp-env.sh: Debian's
PyTorch, the one CI installs), else target/torch-env (scripts/torch-env.sh). Without one the tests
skip, except where GEOBATCH_DDP_REQUIRED is set (.ci/run sets it once it installed Debian's
PyTorch), where that fails; the srun tests skip where no SLURM answers,
except where GEOBATCH_SLURM says one was started."""

import os
import pathlib
import re
import shutil
import socket
import subprocess
import time

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = str(REPO / "examples/python/ddp_forces.py")
# small enough for 4 ranks on 2 cores, and every rank still takes several steps
ARGS = ["--batch-size", "2", "--epochs", "1", "--timeout", "60"]
CHECK = "import torch.distributed as d, torch_geometric; assert d.is_available() and d.is_gloo_available()"


def _interpreter():
    candidates = [os.environ.get("GEOBATCH_TORCH_PYTHON"), REPO / "target/ddp-env/bin/python",
                  REPO / "target/torch-env/bin/python"]
    for py in filter(None, candidates):
        if os.path.exists(py) and subprocess.run([str(py), "-c", CHECK], capture_output=True).returncode == 0:
            return str(py)
    why = "no interpreter with torch (gloo) and torch_geometric: scripts/ddp-env.sh makes one"
    if os.environ.get("GEOBATCH_DDP_REQUIRED"):
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture(scope="module")
def python():
    return _interpreter()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd, env=None):
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    return out


def _losses(out):
    return [float(x) for x in re.findall(r"step \d+: loss ([-\d.e+]+)", out)]


_references = {}


def _reference(python, world):
    if world not in _references:
        out = _run([python, EXAMPLE, *ARGS, "--reference", str(world)])
        _references[world] = _losses(out)
    return _references[world]


def _assert_one_run(out, world, reference):
    losses = _losses(out)
    assert len(losses) == len(reference) >= 3, out
    np.testing.assert_allclose(losses, reference, rtol=1e-5, err_msg=out)
    steps = int(re.search(r"(\d+) steps an epoch on every rank", out).group(1))
    assert len(losses) == steps, out
    assert f"parameters equal on all {world} ranks after {len(losses)} steps" in out, out


@pytest.mark.parametrize("world", [2, 4])
def test_torchrun_ranks_train_as_one_process_fed_their_batches(python, world):
    # --redirects 1 --tee 1: every rank's stdout on the console (the explicit form also avoids
    # torch 1.13's elastic launcher failing on Python 3.11 with its default "0")
    out = _run([python, "-m", "torch.distributed.run", "--nproc_per_node", str(world),
                "--master_port", str(_free_port()), "--redirects", "1", "--tee", "1", EXAMPLE, *ARGS])
    _assert_one_run(out, world, _reference(python, world))


def _slurm(wait_s=60.0):
    # a node that ran the previous job may be "completing" for a while on a loaded machine:
    # wait for it to take jobs again before calling SLURM absent
    states, deadline = [], time.monotonic() + wait_s
    while shutil.which("sinfo"):
        states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True,
                                text=True).stdout.split()
        if any(s in ("idle", "mixed") for s in states):
            return
        if not states or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    if os.environ.get("GEOBATCH_SLURM"):
        pytest.fail(f"GEOBATCH_SLURM is set but SLURM takes no job (node states: {states}, "
                    f"waited up to {wait_s:.0f} s)")
    pytest.skip("no SLURM here (scripts/slurm-local.sh starts one)")


@pytest.mark.parametrize("world", [2, 4])
def test_srun_ranks_train_as_one_process_fed_their_batches(python, world):
    _slurm()
    # ranks from SLURM_PROCID/SLURM_NTASKS, one node: MASTER_ADDR 127.0.0.1
    # --overcommit: 4 tasks on a node of 2 CPUs; --immediate: refused, not queued for ever,
    # when the node is taken
    out = _run(["srun", "-n", str(world), "--overcommit", "--immediate=60", "-t", "5", python,
                EXAMPLE, *ARGS],
               env={"MASTER_PORT": str(_free_port())})
    _assert_one_run(out, world, _reference(python, world))


def test_a_rank_started_alone_with_reference_is_refused(python):
    done = subprocess.run([python, EXAMPLE, "--reference", "2"], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "RANK": "0", "WORLD_SIZE": "1",
                                                       "MASTER_ADDR": "127.0.0.1",
                                                       "MASTER_PORT": str(_free_port())})
    assert done.returncode != 0 and "--reference trains in one process" in done.stderr, done.stderr
