"""``geobatch.Advice``: the ranked answer of ``geobatch.advise`` with its evidence, its
tables, and its ``.npz`` file (``save``, ``load``)."""

from __future__ import annotations

import json
import os
import zipfile
from typing import List, Optional

import numpy as np

from . import evidence

#: The columns of ``Advice.rows()`` and its tables, in order.
COLUMNS = (
    "rank", "batcher", "options", "predicted_s", "steady_ms", "steady_steps", "shapes", "new_shape_s",
    "first_step_s", "fill_nodes", "fill_edges", "graphs_per_step", "probe_steps", "probe_shapes",
    "measured_steps", "measured_s", "measured_in", "predicted_same_steps_s", "error_pct",
    "new_shapes_extrapolated", "probe_spread_pct",
)


class Advice:
    """The ranked advice: ``ranked`` (a dict per candidate, fastest first: predicted total,
    steady step, shapes, new-shape cost, first step, fill, graphs per step, the probe, and where
    validated the measured total and the error), ``crossovers`` (for every pair, the run length
    from which the faster stays ahead), ``model`` (the fitted cost of a new shape, pooled and
    ``new_shape_ms_by_new_dims``: (mean ms, samples) by how many of its dimensions were new to
    the run, 0 to 3; the plane of steady times), ``best`` (the recommended batcher's label) and ``options(label)`` (its
    batcher table, for ``geobatch.torch.DataLoader`` or a ``Planner``). ``repr`` is the text
    ``geobatch advise`` prints; ``rows()``, ``to_pandas()``, ``to_polars()`` are tables;
    ``save(path)`` keeps the advice and its evidence (every probe and validation step) in the
    ``.npz`` file ``path``, and ``Advice.load(path)`` gives it back."""

    def __init__(self, result: dict, options: dict, title: str, probes: dict, measured: dict):
        self.steps = int(result["steps"])
        #: per candidate, its probe's steps: ``ms`` (each step's time), ``shape`` (padded, steps
        #: x 3), ``cold`` (the first step on its shape in the run), and its ``planned`` shapes
        self.probes = probes
        #: per validated candidate, each step's time (ms) of its validation run (made in this
        #: process or a new one: its row's ``measured_in``)
        self.measured = measured
        self.ranked: List[dict] = result["ranked"]
        self.crossovers: List[dict] = result["crossovers"]
        self.model: dict = result["model"]
        self.verdict = result["verdict"]
        self.markdown: str = result["markdown"]
        #: the framework's one-time start-up (s): its first step, whatever the batcher
        self.startup_s: Optional[float] = result.get("startup_s")
        #: what a new process adds to each total (s): the start-up in place of a first step with
        #: the framework started (``None`` without a start-up step)
        self.new_process_s: Optional[float] = result.get("new_process_s")
        #: the machine's drift: per candidate run again after the probes, how far its steady
        #: time moved (``moved_pct``), and the spread of a steady time that gives (``spread``)
        self.drift: Optional[dict] = result.get("drift")
        #: the first two candidates when they are closer than their totals' spread, else None
        self.tie: Optional[dict] = result.get("tie")
        #: per candidate, its new shapes by class (new dimensions): measured or extrapolated
        self.uncertainty: dict = result.get("uncertainty") or {}
        #: per candidate whose probe spent over a fifth of its time in the operating system's
        #: kernel: that share (``kernel``) and its minor page faults a step; ``None`` when none
        self.kernel: Optional[dict] = result.get("kernel")
        self.title = title
        self._options = options

    def save(self, path) -> None:
        """Saves the advice to ``path``, a NumPy ``.npz`` archive written at exactly that path
        (a path that does not end in ``.npz``, or that is a folder, is refused: NumPy would
        write ``path + ".npz"`` beside it). It holds the evidence, per candidate
        ``LABEL/probe_ms``, ``LABEL/probe_shape``, ``LABEL/probe_cold``, ``LABEL/probe_planned``
        (the padded shapes of the ``steps`` steps) and, when validated, ``LABEL/measured_ms``;
        and ``advice.json`` (UTF-8 bytes of JSON: the ranking, crossovers, model, verdict,
        title and each candidate's batcher table), from which ``Advice.load(path)`` makes the
        advice again. ``np.load(path)`` reads it without pickles."""
        target = _npz_path(path, "save")
        parent = os.path.dirname(os.path.abspath(target))
        if not os.path.isdir(parent):
            raise FileNotFoundError(f"Advice.save({target!r}): the folder {parent!r} does not exist")
        arrays = {}
        for label, probe in self.probes.items():
            for key, value in probe.items():
                arrays[f"{label}/probe_{key}"] = np.asarray(value)
            if label in self.measured:
                arrays[f"{label}/measured_ms"] = np.asarray(self.measured[label])
        saved = {
            "format": 1,
            "result": {"steps": self.steps, "ranked": self.ranked, "crossovers": self.crossovers,
                       "model": self.model, "verdict": self.verdict, "markdown": self.markdown,
                       "startup_s": self.startup_s, "new_process_s": self.new_process_s, "drift": self.drift, "tie": self.tie,
                       "uncertainty": self.uncertainty, "kernel": self.kernel},
            "options": self._options,
            "title": self.title,
        }
        text = json.dumps(_to_json(saved))
        arrays[_SAVED] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
        # a file object: np.savez appends ".npz" to a name that lacks it, never to a file
        with open(target, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path) -> "Advice":
        """The advice ``save(path)`` wrote: its ranking, options, title, probes and
        measurements as they were."""
        target = _npz_path(path, "load")
        if not os.path.isfile(target):
            raise FileNotFoundError(f"Advice.load({target!r}): no such file")
        try:
            with np.load(target, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise ValueError(
                f"Advice.load({target!r}): not a NumPy .npz archive written by Advice.save "
                f"({type(e).__name__}: {e})"
            ) from None
        meta = arrays.pop(_SAVED, None)
        if meta is None or meta.dtype != np.uint8 or meta.ndim != 1:
            raise ValueError(
                f"Advice.load({target!r}): the archive has no {_SAVED!r} entry, so it holds "
                "evidence only (written by an older geobatch's Advice.save, or not by "
                "Advice.save): read its arrays with np.load"
            )
        try:
            saved = json.loads(meta.tobytes().decode("utf-8"), object_hook=_from_json)
            result, options, title = saved["result"], saved["options"], saved["title"]
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"Advice.load({target!r}): its {_SAVED!r} entry is not Advice.save's ({e})") from None
        probes, measured = {}, {}
        for key, value in arrays.items():
            label, _, name = key.rpartition("/")
            if name == "measured_ms":
                measured[label] = value
            elif name.startswith("probe_"):
                probes.setdefault(label, {})[name[len("probe_"):]] = value
        return cls(result, options, title, probes, measured)

    @property
    def best(self) -> str:
        """The recommended batcher's label (``static-64``, ``pack``, ...)."""
        return self.ranked[0]["label"]

    def options(self, label: Optional[str] = None) -> dict:
        """The batcher table of ``label`` (default: the recommended one): ``kind``, ``batch_size``
        and its options, e.g. ``DataLoader(data, **advice.options())``."""
        return dict(self._options[label or self.best])

    def rows(self) -> List[dict]:
        """A dict per candidate, fastest first, with the columns of ``COLUMNS``."""
        out = []
        for r in self.ranked:
            row = {k: r.get(k) for k in COLUMNS}
            row["batcher"] = r["label"]
            row["options"] = r["spec"]
            out.append(row)
        return out

    def to_pandas(self):
        """The rows as a ``pandas.DataFrame``."""
        import pandas as pd

        return pd.DataFrame(self.rows(), columns=list(COLUMNS))

    def to_polars(self):
        """The rows as a ``polars.DataFrame``."""
        import polars as pl

        return pl.DataFrame(self.rows())

    def __repr__(self) -> str:
        notes = evidence.notes({"startup_s": self.startup_s, "new_process_s": self.new_process_s, "drift": self.drift, "tie": self.tie,
                                "uncertainty": self.uncertainty, "kernel": self.kernel})
        return self.markdown.rstrip("\n") + notes + "\n" if notes else self.markdown


#: the entry of a saved advice's ``.npz`` that holds everything but the evidence (UTF-8 JSON)
_SAVED = "advice.json"


def _npz_path(path, what: str) -> str:
    """``path`` as text, refused unless it names an ``.npz`` file (not a folder)."""
    try:
        text = os.fspath(path)
    except TypeError:
        raise TypeError(
            f"Advice.{what}: path must be a file path (str or os.PathLike) ending in .npz, got "
            f"{type(path).__name__} {path!r}"
        ) from None
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if os.path.isdir(text):
        raise ValueError(
            f"Advice.{what}({text!r}): that is a folder; give the path of a .npz file, e.g. "
            f"{os.path.join(text, 'advice.npz')!r}"
        )
    if not text.lower().endswith(".npz"):
        raise ValueError(
            f"Advice.{what}({text!r}): give a path ending in .npz (the file written and read is "
            f"exactly that path), e.g. {os.path.splitext(text)[0] + '.npz'!r}"
        )
    return text


def _to_json(value):
    """An advice's value as JSON takes it: NumPy arrays and tuples tagged (``_from_json`` gives
    them back as they were), NumPy scalars as numbers."""
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [_to_json(v) for v in value]}
    if isinstance(value, np.ndarray) and not value.dtype.hasobject:
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float)):
        return value
    raise TypeError(
        f"Advice.save: {type(value).__name__} {value!r} (in a candidate's options?) cannot be "
        "saved: give options as numbers, text, lists and dicts"
    )


def _from_json(obj: dict):
    if set(obj) == {"__ndarray__", "dtype"}:
        return np.asarray(obj["__ndarray__"], dtype=np.dtype(obj["dtype"]))
    if set(obj) == {"__tuple__"}:
        return tuple(obj["__tuple__"])
    return obj
