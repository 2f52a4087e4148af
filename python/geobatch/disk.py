"""A disk-backed store written by ``geobatch data store``, read in place: each split's atom and
edge columns are NumPy arrays mapped from their ``.npy`` files (``np.load(mmap_mode="r")``), so
that a collation reads only its batch's rows from the disk; the structures' own columns (sizes,
cells, targets, ids) are read into memory. ``load_dataset`` gives it for
``kind = "store"`` with ``memory = "disk"`` (the default); ``memory = "ram"`` loads it whole
through the plugin instead. The arrays are those of ``Dataset`` (its docstring), with the image
shifts ``cell_offsets`` as stored (int32) rather than narrowed. A split pickles as its folder and
is mapped again where it is unpickled (a worker process maps the files rather than receiving a
copy of them)."""

from __future__ import annotations

import json
import os

import numpy as np

from .store import GraphStore, _offsets

SPLITS = ("train", "validation", "test")


def _manifest(folder: str) -> dict:
    path = os.path.join(folder, "store.json")
    try:
        with open(path, encoding="utf-8") as f:
            m = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: no store there: write one with `geobatch data store CONFIG --out DIR`"
        ) from None
    if m.get("format") != "geobatch-store" or m.get("version") != 2:
        raise ValueError(
            f"{path}: a {m.get('format')!r} store of version {m.get('version')}, where this "
            "geobatch reads 'geobatch-store' version 2"
        )
    return m


def _column(folder: str, name: str, rows: int) -> np.ndarray:
    """The committed ``rows`` of column ``name``, mapped read-only; a file holding fewer is named."""
    path = os.path.join(folder, f"{name}.npy")
    a = np.load(path, mmap_mode="r")
    if len(a) < rows:
        raise ValueError(f"{path}: truncated: the store committed {rows} rows, the file holds {len(a)}")
    return a[:rows]


def _ids(folder: str, m: dict) -> list:
    start = _column(folder, "id_start", m["graphs"])
    length = _column(folder, "id_len", m["graphs"])
    raw = bytes(_column(folder, "ids", m["id_bytes"]))
    out = []
    for g, (s, n) in enumerate(zip(start.tolist(), length.tolist())):
        try:
            out.append(raw[s : s + n].decode("utf-8"))
        except UnicodeDecodeError:
            raise ValueError(f"{os.path.join(folder, 'ids.npy')}: structure {g}: its id is not UTF-8 text") from None
    return out


def _split(folder: str, m: dict):
    """One split's ``GraphStore`` (read in place), its ids and cells."""
    graphs, atoms, edges = m["graphs"], m["atoms"], m["edges"]
    n_node = np.asarray(_column(folder, "n_node", graphs), dtype=np.int64)
    offsets = _offsets(n_node)
    start = _column(folder, "node_start", graphs)
    if not np.array_equal(start, offsets[:-1]) or int(offsets[-1]) != atoms:
        g = int(np.argmax(start != offsets[:-1])) if len(start) else 0
        raise ValueError(f"{os.path.join(folder, 'node_start.npy')}: structure {g}: its atoms do not follow the one before")
    labels = m["labels"]
    nodes = {
        # species classes are u32 on the disk, below 2^31: viewed as int32 in place
        "species": _column(folder, "species", atoms).view(np.int32),
        "atomic_numbers": _column(folder, "numbers", atoms),
        "positions": _column(folder, "positions", atoms),
    }
    cells = np.asarray(_column(folder, "cell", graphs))
    graph_arrays = {"targets": np.asarray(_column(folder, "targets", graphs))}
    if labels["forces"]:
        nodes["forces"] = _column(folder, "forces", atoms)
        graph_arrays["cell"] = cells.astype(np.float32)
    if labels["stress"]:
        graph_arrays["stress"] = np.asarray(_column(folder, "stress", graphs))
        graph_arrays["stress_mask"] = np.asarray(_column(folder, "stress_known", graphs)).astype(bool)
    if m["stored_edges"]:
        n_edge = np.asarray(_column(folder, "n_edge", graphs), dtype=np.int64)
        if m["shifts"]:
            edge_arrays = {"cell_offsets": _column(folder, "shifts", edges)}
        else:
            edge_arrays = {"edge_vectors": _column(folder, "vectors", edges)}
        store = GraphStore._of_mapped(
            n_node,
            offsets,
            nodes=nodes,
            graphs=graph_arrays,
            edges=edge_arrays,
            n_edge=n_edge,
            senders=_column(folder, "senders", edges).view(np.int32),
            receivers=_column(folder, "receivers", edges).view(np.int32),
        )
    else:
        store = GraphStore._of_mapped(n_node, offsets, nodes=nodes, graphs=graph_arrays)
    return store, _ids(folder, m), cells


def open_store(path, *, partial: bool = False):
    """The three splits of the store ``geobatch data store`` wrote at ``path``, read in place
    (see the module). Refused: a folder without a store, a store whose writing stopped before it
    finished (unless ``partial``: then the parts it committed), splits that number their species
    each their own way."""
    from .datasets import Dataset

    path = os.fspath(path)
    manifests = {s: _manifest(os.path.join(path, s)) for s in SPLITS}
    if not partial:
        for s, m in manifests.items():
            if not m.get("finished", False):
                raise ValueError(
                    f"{path}: the store's writing stopped before it finished ({m['graphs']} "
                    f"structures of the {s} split committed): write it again with `geobatch data "
                    "store --force`, or read what it holds with partial=True"
                )
    classes = max((m["elements"] for m in manifests.values()), key=len)
    for s, m in manifests.items():
        if classes[: len(m["elements"])] != m["elements"]:
            raise ValueError(
                f"{path}: the {s} split numbers its species {m['elements']}, the others {classes}: "
                "the splits were not written together"
            )
    first = manifests["train"]
    ds = Dataset.__new__(Dataset)
    ds.name = "store"
    ds.source = f'store {path} (memory = "disk")'
    ds.target_names = list(first["target_names"])
    ds.target_units = [""] * len(ds.target_names)
    ds.species_classes = np.array(classes, dtype=np.uint8)
    ds.splits, ds.ids, ds.cells = {}, {}, {}
    for s in SPLITS:
        ds.splits[s], ds.ids[s], ds.cells[s] = _split(os.path.join(path, s), manifests[s])
        # pickled, a split is where it is read from, mapped again when unpickled
        ds.splits[s]._reopen = (os.path.abspath(path), s, partial)
    return ds
