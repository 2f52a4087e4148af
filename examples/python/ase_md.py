"""A trained geobatch potential in ASE: NVE molecular dynamics (Velocity Verlet) on a silicon
supercell, the total energy's drift per atom and picosecond stated beside the same run with ASE's
EMT on copper (what conservation looks like for an exact analytic potential), then a BFGS
relaxation of a rattled cell to 0.01 eV/A.

    geobatch data fetch mlearn
    geobatch run configs/examples/mlearn-schnet-forces.toml     # the silicon potential
    python examples/python/ase_md.py results/mlearn-forces/<run> --repeat 2 --temperature 300 --ps 10

Needs ASE (``pip install ase``) and the ``geobatch`` binary (on the PATH, or ``--binary`` /
``GEOBATCH_BIN``): ``geobatch.ase.Calculator`` keeps one ``geobatch predict --serve`` process.
"""

import argparse
import time

import numpy as np
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS

from geobatch.ase import Calculator


def thermalize(atoms, temperature, seed):
    """Maxwell-Boltzmann velocities at ``temperature`` K, the centre of mass at rest."""
    import ase.md.velocitydistribution as v

    rng = np.random.default_rng(seed)
    if hasattr(v, "thermalize_momenta"):  # ASE 3.29 on
        v.thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
    else:
        v.MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
    v.Stationary(atoms)


def nve(atoms, calc, temperature, ps, dt_fs, seed):
    """Runs NVE for ``ps`` picoseconds from the perfect lattice with velocities drawn at twice
    ``temperature`` (equipartition then brings the run to about ``temperature``); (drift in
    meV/atom/ps from a straight-line fit, largest excursion in meV/atom, mean temperature in K,
    ms per step)."""
    atoms.calc = calc
    thermalize(atoms, 2 * temperature, seed)
    steps = int(round(ps * 1000 / dt_fs))
    every = max(1, steps // 1000)
    t, e, temp = [], [], []

    def record():
        t.append(dyn.get_time() / (1000 * units.fs))
        e.append(atoms.get_total_energy() / len(atoms))
        temp.append(atoms.get_temperature())

    dyn = VelocityVerlet(atoms, timestep=dt_fs * units.fs)
    dyn.attach(record, interval=every)
    t0 = time.perf_counter()
    dyn.run(steps)
    ms = 1e3 * (time.perf_counter() - t0) / steps
    e = np.asarray(e)
    slope = np.polyfit(np.asarray(t), e, 1)[0] if len(t) > 1 else 0.0
    return 1e3 * slope, 1e3 * np.abs(e - e[0]).max(), float(np.mean(temp)), ms


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="a complete run of a silicon potential (its folder)")
    p.add_argument("--repeat", type=int, default=2, help="the 8-atom cubic cell repeated: 2 gives 64 atoms, 3 gives 216")
    p.add_argument("--temperature", type=float, default=300.0)
    p.add_argument("--ps", type=float, default=10.0)
    p.add_argument("--dt", type=float, default=1.0, help="time step (fs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--binary", default=None)
    args = p.parse_args()

    si = bulk("Si", "diamond", a=5.43, cubic=True).repeat(args.repeat)
    cu = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(args.repeat + 1)
    with Calculator(args.run, binary=args.binary) as calc:
        for name, atoms, c in [("geobatch Si", si, calc), ("EMT Cu (reference)", cu, EMT())]:
            drift, worst, temp, ms = nve(atoms, c, args.temperature, args.ps, args.dt, args.seed)
            print(f"{name}: {len(atoms)} atoms, {args.ps} ps NVE at {args.temperature:.0f} K "
                  f"(mean {temp:.0f} K), dt {args.dt} fs: drift {drift:+.1e} meV/atom/ps, largest "
                  f"excursion {worst:.3f} meV/atom, {ms:.2f} ms a step")
        relax = bulk("Si", "diamond", a=5.43, cubic=True).repeat(args.repeat)
        relax.rattle(0.1, seed=args.seed)
        relax.calc = calc
        opt = BFGS(relax, logfile=None)
        converged = opt.run(fmax=0.01, steps=1000)
        fmax = np.sqrt((relax.get_forces() ** 2).sum(axis=1)).max()
        print(f"BFGS from a 0.1 A rattle: {'converged' if converged else 'NOT converged'} to "
              f"fmax {fmax:.4f} eV/A in {opt.get_number_of_steps()} steps")


if __name__ == "__main__":
    main()
