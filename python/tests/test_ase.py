"""geobatch.ase.Calculator (issue 83): a trained potential in ASE, equal to ``geobatch predict``,
batched with ``calculate_many``, conserving energy in NVE and relaxing with BFGS; bad input named.
A small SchNet potential is trained on mlearn's silicon (the embedded fixture) once per module."""

import pathlib
import subprocess

import numpy as np
import pytest

ase = pytest.importorskip("ase")
from ase.build import bulk  # noqa: E402
from ase.io import read, write  # noqa: E402

from conftest import binary  # noqa: E402
from geobatch.ase import Calculator  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A SchNet potential trained 30 steps on the fixture's silicon: its run folder."""
    out = tmp_path_factory.mktemp("potential")
    sets = [
        f'experiment.results_dir="{out / "results"}"',
        'model={kind="schnet", latent=16, steps=2, rbf=50, rbf_spacing=0.1}',
        "training.steps=30", "training.eval_every=0", "training.checkpoint_every=0",
        "batcher.batch_size=4", "sinks=[]",
    ]
    args = [binary(), "run", str(REPO / "configs/examples/mlearn-schnet-forces.toml")]
    for s in sets:
        args += ["--set", s]
    done = subprocess.run(args, cwd=out, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    runs = [p.parent.parent for p in (out / "results").rglob("model/potential.json")]
    assert len(runs) == 1, runs
    return runs[0]


def silicon(seed, repeat=(2, 2, 2), rattle=0.05):
    atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat(repeat)
    atoms.rattle(rattle, seed=seed)
    return atoms


def test_the_calculator_gives_what_predict_gives(run_dir, tmp_path):
    cluster = silicon(3, (1, 1, 1))
    cluster.pbc = False
    cluster.cell = [0, 0, 0]
    images = [silicon(1), silicon(2, (1, 1, 2)), cluster]
    data, out = tmp_path / "in.xyz", tmp_path / "out.xyz"
    write(data, images)
    subprocess.run([binary(), "predict", "--run", str(run_dir), "--data", str(data), "--out", str(out)],
                   check=True, capture_output=True, timeout=300)
    predicted = read(out, index=":")
    with Calculator(run_dir, binary=binary()) as calc:
        for atoms, want in zip(images, predicted):
            atoms.calc = calc
            assert abs(atoms.get_potential_energy() - want.get_potential_energy()) <= 1e-6
            assert np.abs(atoms.get_forces() - want.get_forces()).max() <= 1e-6
            if all(atoms.pbc):
                assert np.abs(atoms.get_stress() - want.get_stress()).max() <= 1e-6
        # the cluster has no stress, said as ASE says it
        cluster.calc = calc
        with pytest.raises(ase.calculators.calculator.PropertyNotImplementedError):
            cluster.get_stress()
        # many at once: the same values
        many = calc.calculate_many(images)
        for atoms, r in zip(images, many):
            atoms.calc = calc
            assert r["energy"] == atoms.get_potential_energy()
            assert np.array_equal(r["forces"], atoms.get_forces())
        assert ("stress" in many[0]) and ("stress" not in many[2])


def test_nve_conserves_energy_and_bfgs_relaxes(run_dir):
    from ase import units
    from ase.md.velocitydistribution import thermalize_momenta
    from ase.md.verlet import VelocityVerlet
    from ase.optimize import BFGS

    atoms = silicon(5, rattle=0.02)
    with Calculator(run_dir, binary=binary()) as calc:
        atoms.calc = calc
        thermalize_momenta(atoms, temperature_K=300, rng=np.random.default_rng(0))
        total = []
        dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
        dyn.attach(lambda: total.append(atoms.get_total_energy()), interval=1)
        dyn.run(100)
        drift = abs(total[-1] - total[0]) / len(atoms)
        # 100 fs at 300 K: a smooth potential with exact forces drifts by far less than this
        assert drift < 1e-3, (drift, total[:3], total[-3:])
        relaxed = silicon(6, (1, 1, 1), rattle=0.1)
        relaxed.calc = calc
        assert BFGS(relaxed, logfile=None).run(fmax=0.01, steps=300)
        assert np.abs(relaxed.get_forces()).max() < 0.01 * 3 ** 0.5


def test_bad_runs_and_structures_are_named(run_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="no trained potential"):
        Calculator(tmp_path)
    with Calculator(run_dir, binary=binary()) as calc:
        carbon = bulk("C", "diamond", a=3.57)
        carbon.calc = calc
        with pytest.raises(ValueError, match="atomic number 6"):
            carbon.get_potential_energy()
        # the server goes on after a refused request
        atoms = silicon(7, (1, 1, 1))
        atoms.calc = calc
        assert np.isfinite(atoms.get_potential_energy())


def test_the_md_example_runs_as_a_user_runs_it(run_dir):
    import re
    import sys

    done = subprocess.run(
        [sys.executable, str(REPO / "examples/python/ase_md.py"), str(run_dir), "--repeat", "1",
         "--ps", "0.05", "--binary", binary()],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    drifts = re.findall(r"^(.*): (\d+) atoms, .* drift ([-+.\de]+) meV/atom/ps", done.stdout, re.M)
    assert [(name, int(n)) for name, n, _ in drifts] == [("geobatch Si", 8), ("EMT Cu (reference)", 32)], done.stdout
    assert "BFGS from a 0.1 A rattle: converged" in done.stdout, done.stdout
