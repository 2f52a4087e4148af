"""A trained geobatch potential as an ASE calculator: energy, forces and stress of a complete run
of a potential (``geobatch run`` on a dataset with forces), for relaxations, molecular dynamics
and screening in the user's own Python loop.

    from geobatch.ase import Calculator
    atoms.calc = Calculator("results/mlearn-forces/<run>")
    atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()

The model is loaded once, by one ``geobatch predict --serve`` process kept for the calculator's
life (the wheel does not link the engine: DESIGN.md §13), and every calculation is one request
to it: no process per call. ``calculate_many`` predicts many structures in one request, batched
as ``geobatch predict`` batches them. The values are ``geobatch predict``'s, bit for bit (the
same engine, the numbers passed as shortest round-trip decimals).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

try:
    from ase.calculators.calculator import Calculator as _AseCalculator
    from ase.calculators.calculator import PropertyNotImplementedError, all_changes
    from ase.stress import full_3x3_to_voigt_6_stress
except ImportError as e:  # pragma: no cover - said when used
    raise ImportError("geobatch.ase needs ASE: pip install ase") from e

__all__ = ["Calculator"]


def _binary(binary: Optional[str]) -> str:
    """The geobatch binary: ``binary``, else ``$GEOBATCH_BIN``, else ``geobatch`` on the PATH."""
    path = binary or os.environ.get("GEOBATCH_BIN") or shutil.which("geobatch")
    if not path or not Path(path).is_file():
        raise FileNotFoundError(
            f"no geobatch binary ({path or 'none on the PATH'}): build it (cargo build --release), "
            "put it on the PATH, or pass binary= / set GEOBATCH_BIN"
        )
    return str(path)


class _Server:
    """One ``geobatch predict --run RUN --serve`` process: a request written, its answer read."""

    def __init__(self, run_dir: Path, binary: str):
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [binary, "predict", "--run", str(run_dir), "--serve"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
        )
        self.lock = threading.Lock()

    def ask(self, structures: List[dict]) -> List[dict]:
        line = json.dumps({"structures": structures}, allow_nan=False) + "\n"
        with self.lock:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the geobatch potential server ended: {self._said()}")
            try:
                self.proc.stdin.write(line.encode())
                self.proc.stdin.flush()
                reply = self.proc.stdout.readline()
            except BrokenPipeError:
                reply = b""
        if not reply:
            self.proc.wait()
            raise RuntimeError(f"the geobatch potential server ended: {self._said()}")
        answer = json.loads(reply)
        if "error" in answer:
            raise ValueError(answer["error"])
        return answer["predictions"]

    def _said(self) -> str:
        """What the server wrote on stderr (its last lines)."""
        self.log.seek(0)
        text = self.log.read().decode(errors="replace").strip()
        return "\n".join(text.splitlines()[-5:]) or f"exit status {self.proc.returncode}"

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _request(atoms) -> dict:
    """An ASE ``Atoms`` as a request's structure."""
    pbc = [bool(p) for p in atoms.pbc]
    positions = np.asarray(atoms.positions, dtype=np.float64)
    if not np.all(np.isfinite(positions)):
        raise ValueError("a position is not a finite number")
    out = {
        "numbers": [int(z) for z in atoms.numbers],
        "positions": positions.tolist(),
        "pbc": pbc,
    }
    if any(pbc):
        out["cell"] = np.asarray(atoms.cell, dtype=np.float64).tolist()
    return out


def _results(p: dict, periodic: bool) -> Dict[str, Any]:
    """A prediction as ASE's results (stress in Voigt order, where the structure has one)."""
    energy = float(p["energy"])
    out = {
        "energy": energy,
        "free_energy": energy,
        "forces": np.asarray(p["forces"], dtype=np.float64).reshape(-1, 3),
    }
    if periodic and p.get("stress") is not None:
        out["stress"] = full_3x3_to_voigt_6_stress(np.asarray(p["stress"], dtype=np.float64).reshape(3, 3))
    return out


class Calculator(_AseCalculator):
    """The potential of the complete run in ``run_dir`` as an ASE calculator (energy in eV,
    forces in eV/A, stress in eV/A^3 for structures periodic in three directions).

    ``binary``: the ``geobatch`` program (default ``$GEOBATCH_BIN``, else ``geobatch`` on the
    PATH). The server is started at construction (a missing or incomplete run is an error then)
    and ends with ``close()``, the end of a ``with`` block, or the calculator's collection."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, run_dir, *, binary: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        self.run_dir = Path(run_dir)
        if not (self.run_dir / "model" / "potential.json").is_file():
            raise FileNotFoundError(
                f"{self.run_dir}: no trained potential (model/potential.json); a complete run of a "
                "dataset with forces keeps one"
            )
        self._server = _Server(self.run_dir, _binary(binary))

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        periodic = bool(all(self.atoms.pbc))
        if "stress" in properties and not periodic:
            raise PropertyNotImplementedError(
                "stress needs a structure periodic in all three directions"
            )
        (p,) = self._server.ask([_request(self.atoms)])
        self.results = _results(p, periodic)

    def calculate_many(self, images: Sequence) -> List[Dict[str, Any]]:
        """Energy, forces (and stress, where periodic in three directions) of every structure of
        ``images`` in one request: a dict of ASE's results each, in order."""
        images = list(images)
        if not images:
            return []
        predictions = self._server.ask([_request(a) for a in images])
        return [_results(p, bool(all(a.pbc))) for p, a in zip(predictions, images)]

    def close(self) -> None:
        """Ends the server."""
        server = getattr(self, "_server", None)
        if server is not None:
            server.close()
            self._server = None

    def __enter__(self) -> "Calculator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
