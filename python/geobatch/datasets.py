"""geobatch's own datasets read from Python (``load_dataset``): QM9, AFLOW, CIF collections,
mlearn, your structures as extended XYZ or ASE databases, each split a ``GraphStore``."""

from __future__ import annotations

import os
import warnings
from typing import Dict, Optional

import numpy as np

from . import _native
from .planner import _count
from .store import GraphStore


def dataset_kinds() -> list:
    """Names of geobatch's graph-level datasets linked into this build."""
    return list(_native.dataset_kinds())


def _narrowest(shifts: np.ndarray) -> np.ndarray:
    """Integer image shifts in the narrowest signed type that holds them all: int8 for every
    real crystal (|S| <= 127; a 5 A cutoff needs |S| > 127 only in a cell thinner than 0.04 A),
    a quarter of int32's bytes in every batch."""
    top = int(np.abs(shifts).max()) if shifts.size else 0
    for t in (np.int8, np.int16):
        if top <= np.iinfo(t).max:
            return shifts.astype(t)
    return shifts


class Dataset:
    """A geobatch dataset read from Python: ``splits`` (``train``, ``validation``, ``test``) of
    ``GraphStore`` with node arrays ``species`` (class index), ``atomic_numbers``, ``positions``,
    graph arrays ``targets`` (graphs x targets) and, for stored edges, ``edge_vectors``;
    ``ids`` per split; ``target_names``, ``target_units``, ``species_classes``, ``source``.

    With a potential's labels (``targets=["energy", "forces", "stress"]``): node array
    ``forces`` (eV/Angstrom), graph arrays ``cell`` (3 x 3, lattice vectors as rows, float32),
    ``stress`` (3 x 3, eV/Angstrom^3, ASE's sign; zero where unknown) and ``stress_mask``, and
    edge array ``cell_offsets`` (the sender's integer lattice translation ``S``, in the
    narrowest signed integer type holding them: int8 for real crystals), so that
    ``positions[s] + S @ cell - positions[r]`` is the edge's vector from its receiver to the
    sender's image (OCP's ``get_pbc_distances``), in place of ``edge_vectors`` (which were its
    negative, not differentiable by position)."""

    def __init__(self, raw: dict):
        self.name = raw["name"]
        self.source = raw["source"]
        self.target_names = list(raw["target_names"])
        self.target_units = list(raw["target_units"])
        self.species_classes = raw["species_classes"]
        self.splits: Dict[str, GraphStore] = {}
        self.ids: Dict[str, list] = {}
        self.cells: Dict[str, np.ndarray] = {}
        for name, s in raw["splits"].items():
            n_node = np.diff(s["node_offsets"])
            nodes = {"species": s["species"], "atomic_numbers": s["atomic_numbers"], "positions": s["positions"]}
            graphs = {"targets": s["targets"]}
            edges = {"edge_vectors": s.get("edge_vectors")}
            if "forces" in s:
                nodes["forces"] = s["forces"]
                graphs["cell"] = s["cells"].astype(np.float32)
            if "stress" in s:
                graphs["stress"], graphs["stress_mask"] = s["stress"], s["stress_mask"]
            if "cell_offsets" in s:
                # a potential's step rebuilds its edge vectors from the positions (to
                # differentiate them): the stored float32 vectors would only be copied
                edges = {"cell_offsets": _narrowest(s["cell_offsets"])}
            if s["full"]:
                store = GraphStore(n_node, nodes=nodes, graphs=graphs, full=True, copy=False)
            else:
                store = GraphStore(
                    n_node,
                    nodes=nodes,
                    edges=edges,
                    graphs=graphs,
                    edge_index=np.stack([s["senders"], s["receivers"]]),
                    n_edge=np.diff(s["edge_offsets"]),
                    copy=False,
                )
            self.splits[name] = store
            self.ids[name] = s["ids"]
            self.cells[name] = s["cells"]

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k} {len(v)}" for k, v in self.splits.items())
        return f"Dataset({self.name!r}: {sizes}; source {self.source})"


def load_dataset(config=None, *, seed: Optional[int] = None, data_dir=None, **table) -> Dataset:
    """Reads a geobatch dataset with its plugin, as ``geobatch run`` does: from a config file's
    ``[dataset]`` table (its ``[experiment]`` seed and data folder unless given), or from the
    table's keys, e.g. ``load_dataset(kind="qm9", targets=["U0"])``.

    Never the embedded fixture unasked: with the table's keys and no ``source``, data that is not
    there (QM9 not fetched into ``data_dir``, by default ``data`` under the current folder) is an
    error that says where it looked; ``source="fixture"`` asks for the fixture. A config that
    says ``source = "auto"`` gets its documented fallback, with a warning. ``Dataset.source``
    (and its ``repr``) says what was loaded.

    A disk-backed store (``kind="store"``, written by ``geobatch data store``) is read in
    place with ``memory="disk"`` (the default; ``geobatch.disk``): its atom and edge arrays
    are mapped from the files, a batch's rows read when it is collated."""
    if config is not None and table:
        raise ValueError("give a config file or the dataset's options, not both")
    if config is None and "kind" not in table:
        raise ValueError(f"give a config file or kind=..., one of {dataset_kinds()}")
    seed = None if seed is None else _count(seed, "seed")
    dd = None if data_dir is None else str(data_dir)
    if config is not None:
        raw = _native.load_dataset(config=str(config), seed=seed, data_dir=dd)
    else:
        raw = _native.load_dataset(table=table, seed=seed, data_dir=dd)
    if "store" in raw:
        from .disk import open_store

        return open_store(raw["store"], partial=raw["partial"])
    if str(raw["source"]).startswith("fixture") and "source" not in table:
        where = os.path.abspath(dd if dd is not None else _native.DEFAULT_DATA_DIR)
        if config is None:
            raise FileNotFoundError(
                f"load_dataset(kind={table['kind']!r}): no fetched data in {where} (data_dir), so "
                f"source = 'auto' would fall back to the embedded {raw['source']}: fetch it "
                f"(`geobatch data fetch {table['kind']}`), give data_dir=..., or ask for "
                "source='fixture'"
            )
        warnings.warn(
            f"{config}: source = 'auto' found no fetched data in {where}; loaded the embedded "
            f"{raw['source']}",
            stacklevel=2,
        )
    return Dataset(raw)
