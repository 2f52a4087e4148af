"""``geobatch.advise`` (this module, ``geobatch.advice``): which batcher makes N steps of *your*
training step the fastest.

The study's question asked in the user's own loop: a compiled PyTorch step on padded PyG batches
(``torch.compile``) or a jitted JAX step on padded arrays (``jax.jit``) pays for every new padded
shape once (a compile) and for its padding on every step. For each candidate batcher this plans
the N steps exactly (the padded shape of every step, from sizes alone), probes the user's step on
real batches of that batcher (stopped after ``probe_steps`` steps or ``probe_seconds``), and
predicts the total with the cost model of ``geobatch advise`` (``geobatch_core::advice``: a shape's
steady time, the cost of a new shape, the first step), ranked, with the evidence. docs/advise.md.
"""

from __future__ import annotations

import contextlib
import copy
import json
import numbers
import os
import sys
import time
import zipfile
from typing import Any, Callable, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from . import _native, evidence
from .planner import Planner, _count, check_memory

#: Bytes a planned step takes per candidate while ``advise`` plans: padded and real shapes (2 x 3
#: int64), their concatenation and slice, and the native copy of the padded ones
_BYTES_PER_STEP = 5 * 3 * 8

#: The candidates when none are given: the study's three and ``pack``, as ``geobatch advise``.
DEFAULT_CANDIDATES = ("dynamic", "static:pad=multiple64", "static:pad=pow2", "pack")

#: The columns of ``Advice.rows()`` and its tables, in order.
COLUMNS = (
    "rank", "batcher", "options", "predicted_s", "steady_ms", "shapes", "new_shape_s",
    "first_step_s", "fill_nodes", "fill_edges", "graphs_per_step", "probe_steps", "probe_shapes",
    "measured_steps", "measured_s", "predicted_same_steps_s", "error_pct",
    "new_shapes_extrapolated", "probe_spread_pct",
)


def _scalar(text: str):
    """A ``KEY=VALUE`` option's value as TOML reads a bare scalar: integer, float, boolean, else
    the text (quotes removed)."""
    t = text.strip()
    if t in ("true", "false"):
        return t == "true"
    for kind in (int, float):
        try:
            return kind(t)
        except ValueError:
            pass
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'":
        return t[1:-1]
    return t


def _candidates(candidates: Any) -> list:
    """``advise``'s candidates as a list: one candidate (a ``"KIND[:KEY=VALUE...]"`` string, a
    dict, a ``Planner``) is a list of one, never read letter by letter or key by key."""
    if isinstance(candidates, (str, dict, Planner)):
        return [candidates]
    if isinstance(candidates, (bytes, bytearray)):
        raise TypeError(
            f"candidates = {candidates!r}: give text (candidates={candidates.decode(errors='replace')!r}), "
            "or a list of batchers"
        )
    try:
        return list(candidates)
    except TypeError:
        raise TypeError(
            f"candidates = {candidates!r}: expected a batcher ('KIND[:KEY=VALUE...]', a dict or a "
            "Planner) or a list of them, e.g. candidates=['dynamic', 'pack']"
        ) from None


def candidate_options(candidate: Any) -> dict:
    """A candidate as a batcher table: ``"KIND[:KEY=VALUE...]"`` (as ``geobatch advise
    --batchers`` takes it: ``"static:pad=pow2"``), a dict with ``kind`` and options, or a
    ``Planner``."""
    if isinstance(candidate, Planner):
        return dict(candidate.options)
    if isinstance(candidate, dict):
        if "kind" not in candidate:
            raise ValueError(f"candidate {candidate!r}: a dict needs 'kind' (a batcher name)")
        return dict(candidate)
    if not isinstance(candidate, str):
        raise TypeError(f"candidate {candidate!r}: expected 'KIND[:KEY=VALUE...]', a dict or a Planner")
    kind, *options = candidate.split(":")
    if not kind.strip():
        raise ValueError(f"candidate {candidate!r}: expected KIND[:KEY=VALUE...], e.g. static:pad=pow2")
    table = {"kind": kind.strip()}
    for kv in options:
        key, sep, value = kv.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"candidate {candidate!r}: {kv!r} is not KEY=VALUE")
        table[key.strip()] = _scalar(value)
    return table


class _Source:
    """The batches of one candidate in the order a user's loop meets them: epoch after epoch
    (``set_epoch(0)``, ``set_epoch(1)``, ...) of one seed, each epoch's plan made by the
    batcher from sizes alone."""

    def __init__(self, data, framework: str, options: dict, seed: int, loader_options: dict):
        table = dict(options)
        kind, batch_size = table.pop("kind"), table.pop("batch_size")
        self.framework = framework
        if framework == "torch":
            from .torch import DataLoader

            self.loader = DataLoader(data, kind, batch_size, seed=seed, shuffle=True,
                                     **loader_options, **table)
            self.sampler = self.loader.sampler
        else:
            from .sampler import BatchSampler

            unknown = sorted(set(loader_options) - {"index_dtype"})
            if unknown:
                raise TypeError(
                    f"{unknown}: options of geobatch.torch.DataLoader; {framework} batches take "
                    "index_dtype only"
                )
            self.store, self.layout, dtype = data
            self.sampler = BatchSampler(self.store.sizes, kind, batch_size, seed=seed,
                                        shuffle=True, rank=0, world_size=1, **table)
            self.index_dtype = loader_options.get("index_dtype", dtype)
            self.collator = None
        self.label = self.sampler.planner.label

    def plans(self) -> Iterator:
        """Each epoch's plan, from epoch 0 on."""
        epoch = 0
        while True:
            self.sampler.set_epoch(epoch)
            yield self.sampler.plan()
            epoch += 1

    def first_epoch(self) -> np.ndarray:
        """The padded shapes of epoch 0's batches."""
        return next(self.plans()).padded

    def planned(self, steps: int) -> Tuple[np.ndarray, np.ndarray]:
        """The padded and real shapes (steps x 3) of the first ``steps`` steps."""
        padded, real, n = [], [], 0
        for plan in self.plans():
            padded.append(plan.padded)
            real.append(plan.real)
            n += len(plan)
            if n >= steps:
                break
        return np.concatenate(padded)[:steps], np.concatenate(real)[:steps]

    def batches(self, order: Optional[Sequence[int]] = None) -> Iterator[Tuple[tuple, Any]]:
        """(padded shape, batch) for every step, from the first step of epoch 0; with ``order``,
        epoch 0's batches in that order first (a probe's teaching order)."""
        if self.framework == "torch":
            epoch = 0
            if order is not None:
                self.loader.set_epoch(0)
                plan = self.loader.sampler.plan()
                native, bound = self.loader._bind(plan)
                for b in order:
                    yield tuple(int(x) for x in plan.padded[b]), self.loader._make(native, bound, b, plan)
                epoch = 1
            while True:
                self.loader.set_epoch(epoch)
                plan = self.loader.sampler.plan()
                for b, batch in enumerate(self.loader):
                    yield tuple(int(x) for x in plan.padded[b]), batch
                epoch += 1
        for epoch, plan in enumerate(self.plans()):
            capacity = tuple(int(x) for x in plan.padded.max(axis=0))
            if self.collator is None or any(c > h for c, h in zip(capacity, self.collator.capacity)):
                if self.collator is not None:
                    capacity = tuple(max(c, h) for c, h in zip(capacity, self.collator.capacity))
                self.collator = self.store.collator(capacity, self.index_dtype)
            for b in (order if epoch == 0 and order is not None else range(len(plan))):
                batch = self.collator.collate_plan(plan, b)
                shape = tuple(int(x) for x in plan.padded[b])
                if self.framework == "jraph":
                    from .jraph import graphs_tuple

                    batch = graphs_tuple(batch, self.layout)
                yield shape, batch


def _framework(data, framework: Optional[str]):
    """(framework, the data as the sources take it): ``torch`` (a list of PyG ``Data``, an
    ``InMemoryDataset``), ``jraph`` (``GraphsTuple`` objects) or ``arrays`` (a ``GraphStore``,
    whose batches are ``PaddedBatch`` objects)."""
    from .store import GraphStore

    if framework not in (None, "torch", "jraph", "arrays"):
        raise ValueError(f"framework must be 'torch', 'jraph' or 'arrays', got {framework!r}")
    if isinstance(data, GraphStore):
        if framework in (None, "arrays", "jraph"):
            return framework or "arrays", (data, getattr(data, "jraph_layout", None), np.int32)
        return "torch", data
    first = None
    try:
        first = data[0]
    except (TypeError, IndexError, KeyError):
        pass
    if first is not None and hasattr(first, "n_node") and hasattr(first, "senders"):
        from .jraph import from_jraph

        store = from_jraph(data)
        if framework == "torch":
            raise ValueError("framework='torch' takes PyG data; these are jraph GraphsTuples")
        # batches keep the tuples' index dtype (NumPy's int64 when the user made them so)
        dtype = np.asarray(first.senders).dtype
        dtype = dtype if dtype in (np.dtype(np.int32), np.dtype(np.int64)) else np.int32
        return framework or "jraph", (store, getattr(store, "jraph_layout", None), dtype)
    if framework in (None, "torch"):
        return "torch", data
    raise ValueError(
        f"framework={framework!r} takes a GraphStore or jraph GraphsTuples; got {type(data).__name__}"
    )


def _default_sync(out) -> None:
    """Waits for the device work of a step: JAX's arrays in ``out`` (``block_until_ready``),
    torch's CUDA stream when CUDA is in use; a CPU step has returned when it is done."""
    jax = sys.modules.get("jax")
    if jax is not None and out is not None:
        jax.block_until_ready(out)
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def _fresh():
    """A context in which a run meets every shape as a first run on a fresh machine would: torch's
    compiled frames dropped (``torch._dynamo.reset()``) and inductor's caches empty (a new cache
    folder, removed after: ``fresh_inductor_cache``), JAX's compile caches cleared."""
    jax = sys.modules.get("jax")
    if jax is not None and hasattr(jax, "clear_caches"):
        jax.clear_caches()
    if "torch._dynamo" in sys.modules:
        sys.modules["torch._dynamo"].reset()
        try:
            from torch._inductor.utils import fresh_inductor_cache
        except ImportError:  # a torch without inductor
            return contextlib.nullcontext()
        return fresh_inductor_cache()
    return contextlib.nullcontext()


class _Saved:
    """The user's training state, saved before anything runs and put back before every run and
    at the end: objects with ``state_dict``/``load_state_dict`` (a model, an optimizer, a
    scheduler), and torch's random number generators."""

    def __init__(self, state):
        if state is None:
            objects = []
        elif hasattr(state, "state_dict"):
            objects = [state]
        elif isinstance(state, (list, tuple)):
            objects = list(state)
        else:
            raise TypeError(
                f"state: {type(state).__name__} has no state_dict/load_state_dict (give a model, an "
                "optimizer, or a list of them)"
            )
        for o in objects:
            if not (hasattr(o, "state_dict") and hasattr(o, "load_state_dict")):
                raise TypeError(f"state: {type(o).__name__} has no state_dict/load_state_dict")
        self.objects = objects
        self.saved = [copy.deepcopy(o.state_dict()) for o in objects]
        torch = sys.modules.get("torch")
        self.rng = None
        if torch is not None:
            cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
            self.rng = (torch.get_rng_state(), cuda)

    def restore(self) -> None:
        # a deep copy each time: an optimizer's state loaded as it is would be the saved tensors,
        # changed in place by the next step
        for o, s in zip(self.objects, self.saved):
            o.load_state_dict(copy.deepcopy(s))
        if self.rng is not None:
            torch = sys.modules["torch"]
            torch.set_rng_state(self.rng[0])
            if self.rng[1] is not None:
                torch.cuda.set_rng_state_all(self.rng[1])


class _Progress:
    """One line per run on stderr, updated in place on a terminal (else every 10 s)."""

    def __init__(self, enabled: Optional[bool]):
        self.tty = sys.stderr.isatty()
        # on by default off a terminal too (a notebook, a log): a line every 10 s
        self.enabled = True if enabled is None else bool(enabled)
        self.last = 0.0

    def update(self, what: str, done: int, total: int, shapes: int, elapsed: float, end: bool = False):
        if not self.enabled:
            return
        now = time.monotonic()
        if not end and now - self.last < (0.5 if self.tty else 10.0):
            return
        self.last = now
        line = f"advise: {what}: {done}/{total} steps, {shapes} shapes, {elapsed:.1f} s"
        if self.tty:
            sys.stderr.write("\r" + line + ("\n" if end else "\x1b[K"))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


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
        #: per validated candidate, each step's time (ms) of its validation run
        self.measured = measured
        self.ranked: List[dict] = result["ranked"]
        self.crossovers: List[dict] = result["crossovers"]
        self.model: dict = result["model"]
        self.verdict = result["verdict"]
        self.markdown: str = result["markdown"]
        #: the framework's one-time start-up (s): its first step, whatever the batcher
        self.startup_s: Optional[float] = result.get("startup_s")
        #: the first two candidates when they are closer than their probes' spread, else None
        self.tie: Optional[dict] = result.get("tie")
        #: per candidate, its new shapes by class (new dimensions): measured or extrapolated
        self.uncertainty: dict = result.get("uncertainty") or {}
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
                       "startup_s": self.startup_s, "tie": self.tie, "uncertainty": self.uncertainty},
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
        notes = evidence.notes({"startup_s": self.startup_s, "tie": self.tie,
                                "uncertainty": self.uncertainty})
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


def _run(step, source: _Source, n: int, limit_s: Optional[float], *, init, sync, progress, what,
         order=None):
    """Runs ``step`` on the first ``n`` batches of ``source`` (fewer when ``limit_s`` passes,
    at least two; epoch 0's in ``order`` when given); returns each step's time (ms: the batch
    made, the step, its device work) and padded shape."""
    ms, shapes, seen = [], [], set()
    carry = init
    started = time.perf_counter()
    batches = source.batches(order)
    try:
        for i in range(n):
            t0 = time.perf_counter_ns()
            shape, batch = next(batches)
            if init is not None:
                carry = step(carry, batch)
                out = carry
            else:
                out = step(batch)
            sync(out)
            ms.append((time.perf_counter_ns() - t0) / 1e6)
            shapes.append(shape)
            seen.add(shape)
            elapsed = time.perf_counter() - started
            progress.update(what, i + 1, n, len(seen), elapsed)
            if limit_s is not None and elapsed >= limit_s and i >= 1:
                break
    finally:
        batches.close()
    if what.endswith("start-up"):
        return np.asarray(ms, dtype=np.float64), shapes
    progress.update(what, len(ms), n, len(seen), time.perf_counter() - started, end=True)
    return np.asarray(ms, dtype=np.float64), shapes


def _annotated(result: dict, cands: List[dict], startup_ms) -> dict:
    """The native advice with what it is sure of (``evidence``): the start-up, a tie within the
    probes' spread, and per candidate which classes of new shapes were measured."""
    by_new = result["model"]["new_shape_ms_by_new_dims"]
    spreads = {c["label"]: evidence.spread(c["probe_ms"], c["probe_cold"], c["probe_warmup"]) for c in cands}
    result["startup_s"] = float(startup_ms[0]) / 1e3 if len(startup_ms) else None
    result["tie"] = evidence.tie(result["ranked"], spreads)
    result["uncertainty"] = {c["label"]: evidence.uncertainty(c["padded"], by_new) for c in cands}
    for r in result["ranked"]:
        u = result["uncertainty"].get(r["label"], {})
        r["new_shapes_extrapolated"] = int(sum(u.get("extrapolated", {}).values()))
        r["probe_spread_pct"] = 100 * spreads.get(r["label"], 0.0)
    return result


def _cold(shapes: Sequence[tuple]) -> List[bool]:
    """Whether each step is the first on its shape in its run (every run starts cold)."""
    seen = set()
    out = []
    for s in shapes:
        out.append(s not in seen)
        seen.add(s)
    return out


def _warn_recompile_limit(labels_shapes, framework: str) -> None:
    """torch.compile recompiles one function at most ``cache_size_limit`` times (8 by default);
    shapes beyond run eagerly, which the prediction does not model: said, with the fix."""
    if framework != "torch" or "torch._dynamo" not in sys.modules:
        return
    import warnings

    limit = sys.modules["torch._dynamo"].config.cache_size_limit
    over = [(label, n) for label, n in labels_shapes if n > limit]
    if over:
        named = ", ".join(f"{label} ({n} shapes)" for label, n in over)
        warnings.warn(
            f"torch.compile recompiles a function at most {limit} times "
            f"(torch._dynamo.config.cache_size_limit): {named} would run the shapes beyond "
            "eagerly, which this advice does not predict; raise the limit (and "
            "accumulated_cache_size_limit) above the shapes planned",
            stacklevel=3,
        )


def advise(
    step: Callable,
    data: Any,
    *,
    steps: int,
    batch_size: int = 32,
    candidates: Iterable[Any] = DEFAULT_CANDIDATES,
    seed: int = 0,
    init: Any = None,
    state: Any = None,
    sync: Optional[Callable[[Any], None]] = None,
    fresh: Any = True,
    probe_steps: int = 200,
    probe_seconds: float = 60.0,
    warmup: int = 10,
    validate: Any = False,
    validate_steps: Optional[int] = None,
    framework: Optional[str] = None,
    progress: Optional[bool] = None,
    title: Optional[str] = None,
    **loader_options,
) -> Advice:
    """Which batcher makes ``steps`` steps of ``step`` the fastest, predicted from short probes
    of ``step`` itself and the exact padded shapes of the ``steps`` steps.

    ``step`` is the user's own training step: ``step(batch)`` (a compiled PyTorch step on a
    padded PyG ``Batch``: its model and optimizer given as ``state``, saved before and put back
    after every probe, so asking changes nothing of the training), or, with ``init``,
    ``step(state, batch) -> state`` (a jitted JAX step: every run starts from ``init``, which is
    never changed). ``data``: a list of PyG ``Data`` or an ``InMemoryDataset`` (batches from
    ``geobatch.torch.DataLoader``), jraph ``GraphsTuple`` objects (batches as ``GraphsTuple``),
    or a ``GraphStore`` (``PaddedBatch`` batches; ``framework="torch"`` for PyG batches).
    ``candidates``: batchers as ``"KIND[:KEY=VALUE...]"``, dicts or ``Planner`` objects (a list
    of them, or one alone: ``candidates="pack"``), each with ``batch_size`` unless it sets its own;
    ``seed``: the loop's data order (epochs ``0, 1, ...``).

    Each candidate is probed for ``probe_steps`` steps or ``probe_seconds`` (at least 2 steps),
    with the compile caches emptied first (``fresh``: torch's compiled frames and a new inductor
    cache, JAX's caches, or a callable that empties those of another compiler: every run meets
    its shapes as a first run on a fresh machine does); ``sync(out)`` waits for a step's device
    work (default: JAX's ``block_until_ready``, torch's CUDA synchronize). ``validate=True`` runs
    the recommended batcher and the runner-up for ``validate_steps`` (default ``steps``) and
    reports predicted against measured (``validate="all"``: every candidate). ``warmup``: the
    first steps of a run (10, as ``geobatch advise``'s ``training.warmup``) whose excess over the
    steady time the cost model sets apart (caches, buffers and thread pools still warming up).
    ``loader_options`` go to ``geobatch.torch.DataLoader`` (``device``, ``pin_memory``,
    ``prefetch``). Progress goes to stderr (``progress``, default on: updated in place on a
    terminal, a line every 10 s elsewhere, a notebook or a log; ``progress=False`` silences it).
    """
    steps = _count(steps, "steps", 1)
    probe_steps = _count(probe_steps, "probe_steps", 2)
    warmup = _count(warmup, "warmup")
    if probe_steps < warmup + 2:
        raise ValueError(
            f"probe_steps={probe_steps} is too short for warmup={warmup}: a probe's warm-up steps "
            f"are set apart, so it needs at least {warmup + 2}"
        )
    if not (isinstance(probe_seconds, numbers.Real) and probe_seconds > 0 and np.isfinite(probe_seconds)):
        raise ValueError(f"probe_seconds must be a positive number, got {probe_seconds!r}")
    if validate not in (False, True, "all"):
        raise ValueError(f"validate must be False, True or 'all', got {validate!r}")
    validate_steps = steps if validate_steps is None else _count(validate_steps, "validate_steps", 1)
    if not callable(step):
        raise TypeError(f"step must be callable, got {type(step).__name__}")
    tables = [candidate_options(c) for c in _candidates(candidates)]
    if not tables:
        raise ValueError("no candidate batcher given")
    for t in tables:
        t.setdefault("batch_size", batch_size)
    framework, data = _framework(data, framework)
    sync = sync or _default_sync
    shown = _Progress(progress)
    saved = _Saved(state)
    sources, options = [], {}
    for t in tables:
        source = _Source(data, framework, t, seed, loader_options)
        label = source.label
        if label in options:
            label = f"{label} {t}"
            source.label = label
        options[label] = t
        sources.append(source)
    # every candidate's N steps are planned in full (padded and real shapes, their joins and the
    # native copy): a length that cannot be held is refused before anything is planned, by the
    # check Planner.plan_steps makes (it aborted the interpreter in an allocation)
    check_memory(steps * len(sources) * _BYTES_PER_STEP,
                 f"advise(steps={steps}) with {len(sources)} candidates")
    planned = [s.planned(steps) for s in sources]
    _warn_recompile_limit(
        [(s.label, len({tuple(r) for r in p[0].tolist()})) for s, p in zip(sources, planned)],
        framework,
    )
    title = title or f"your step, {framework} batches, batch size {batch_size}"

    def run(source, n, limit, what, order=None):
        saved.restore()
        if callable(fresh):
            fresh()
        with _fresh() if fresh is True else contextlib.nullcontext():
            return _run(step, source, n, limit, init=init, sync=sync, progress=shown,
                        what=f"{source.label} {what}", order=order)

    measured = {}
    try:
        # one step thrown away first: the framework's one-time start-up (its backend, thread
        # pools, the first trace) is no candidate's, and would be charged to the first probe
        startup_ms, _ = run(sources[0], 1, None, "start-up")
        cands = []
        for source, (padded, real) in zip(sources, planned):
            # the classes of new shapes its plan meets most are probed first (evidence.py)
            order = evidence.teaching_order(source.first_epoch(), padded)
            ms, shapes = run(source, probe_steps, float(probe_seconds), "probe", order)
            totals = real.sum(axis=0).astype(np.float64), padded.sum(axis=0).astype(np.float64)
            fill = tuple(float(r / p) if p else 0.0 for r, p in zip(totals[0][:2], totals[1][:2]))
            cands.append({
                "label": source.label,
                "spec": ", ".join(f"{k} = {json.dumps(v)}" for k, v in options[source.label].items()),
                "padded": np.ascontiguousarray(padded, dtype=np.int64),
                "fill": fill,
                "graphs_per_step": float(real[:, 2].mean()),
                "probe_ms": ms,
                "probe_shape": np.asarray(shapes, dtype=np.int64).reshape(-1, 3),
                "probe_cold": _cold(shapes),
                "probe_warmup": [i < warmup for i in range(len(ms))],
            })
        result = _annotated(_native.advise(candidates=cands, steps=steps, warmup=warmup, measured={},
                                           title=title), cands, startup_ms)
        if validate:
            chosen = result["ranked"] if validate == "all" else result["ranked"][:2]
            for r in chosen:
                source = sources[[s.label for s in sources].index(r["label"])]
                measured[r["label"]], _ = run(source, validate_steps, None, "validation")
            result = _annotated(_native.advise(candidates=cands, steps=steps, warmup=warmup,
                                               measured=measured, title=title), cands, startup_ms)
    finally:
        saved.restore()
    probes = {
        c["label"]: {"ms": c["probe_ms"], "shape": c["probe_shape"], "cold": np.asarray(c["probe_cold"]),
                     "planned": c["padded"]}
        for c in cands
    }
    return Advice(result, options, title, probes, measured)
