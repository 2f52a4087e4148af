"""``geobatch.advise`` (this module, ``geobatch.advice``): which batcher makes N steps of *your*
training step the fastest.

The study's question asked in the user's own loop: a compiled PyTorch step on padded PyG batches
(``torch.compile``) or a jitted JAX step on padded arrays (``jax.jit``) pays for every new padded
shape once (a compile) and for its padding on every step. For each candidate batcher this plans
the N steps exactly (the padded shape of every step, from sizes alone), probes the user's step on
real batches of that batcher (stopped after ``probe_steps`` steps or ``probe_seconds``), and
predicts the total with the cost model of ``geobatch advise`` (``geobatch_advice``: a shape's
steady time, the cost of a new shape, the first step), ranked, with the evidence. docs/advise.md.
"""

from __future__ import annotations

import contextlib
import json
import numbers
import sys
from typing import Any, Callable, Iterable, List, Optional

import numpy as np

from . import _native, evidence, new_process as _new_process
from .advice_result import COLUMNS, Advice  # noqa: F401  (geobatch.advice.Advice, .COLUMNS)
from .new_process import NewProcessError  # noqa: F401  (geobatch.advice.NewProcessError)
from .planner import Planner, _count, check_memory
from .probing import (_cold, _default_sync, _fresh, _framework, _os_account, _os_share, _Progress, _run, _Saved,
                      _Source)

#: Bytes a planned step takes per candidate while ``advise`` plans: padded and real shapes (2 x 3
#: int64), their concatenation and slice, and the native copy of the padded ones
_BYTES_PER_STEP = 5 * 3 * 8

#: The candidates when none are given: the study's three and ``pack``, as ``geobatch advise``.
DEFAULT_CANDIDATES = ("dynamic", "static:pad=multiple64", "static:pad=pow2", "pack")
#: Steady steps a probe measures on shapes it has compiled, even when its time went on new shapes:
#: as many as the cost model takes a shape's own mean from (``MIN_SAMPLES`` of crates/advice)
MIN_STEADY = 3
#: Candidates planning more shapes than this are probed after the others and after the recheck
#: (``_probed_all``); torch.compile's default recompile limit
MANY_SHAPES = 8


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


def _annotated(result: dict, cands: List[dict], startup_ms, warmup: int) -> dict:
    """The native advice with what it is sure of (``evidence``): the start-up, the machine's
    drift between a probe and its recheck, a tie within the totals' spread, and per candidate
    which classes of new shapes were measured; the operating system's share of the probes
    (``kernel``)."""
    by_new = result["model"]["new_shape_ms_by_new_dims"]
    result["drift"] = evidence.drift(cands, warmup)
    machine = (result["drift"] or {}).get("spread", 0.0)
    spreads = {c["label"]: max(evidence.spread(c["probe_ms"], c["probe_cold"], c["probe_warmup"]), machine)
               for c in cands}
    result["startup_s"] = float(startup_ms[0]) / 1e3 if len(startup_ms) else None
    result["new_process_s"] = evidence.new_process_s(result["startup_s"], result["ranked"])
    firsts = [c["probe_ms"][0] for c in cands if len(c["probe_ms"])]
    firsts += [c["recheck_ms"][0] for c in cands if len(c.get("recheck_ms", ()))]
    result["tie"] = evidence.tie(result["ranked"], spreads, evidence.first_spread(firsts),
                                 result["new_process_s"])
    result["uncertainty"] = {c["label"]: evidence.uncertainty(c["padded"], by_new) for c in cands}
    result["kernel"] = evidence.kernel(cands)
    for r in result["ranked"]:
        u = result["uncertainty"].get(r["label"], {})
        r["new_shapes_extrapolated"] = int(sum(u.get("extrapolated", {}).values()))
        r["probe_spread_pct"] = 100 * spreads.get(r["label"], 0.0)
    return result


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
    new_process: Optional[Callable[[], Any]] = None,
    recheck: bool = True,
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
    reports predicted against measured (``validate="all"``: every candidate), in this process
    with the compile caches emptied; with ``new_process=make``, each validation run is made in a
    new process of its own, as a training run started on its own (``make``: a function of no
    arguments defined at the top level of a module, or of your script, which then calls
    ``advise`` under ``if __name__ == "__main__":``, returning a dict with ``step`` and
    ``data``, and ``init``, ``state``, ``sync`` where you give them, made as for this call),
    with empty compile caches on disk too, and compared with the prediction plus what a new
    process adds (``Advice.new_process_s``: the framework's start-up). ``recheck``: the
    two first candidates are run again, briefly, after the probes, so that each steady time is
    measured in two stretches of the machine's time and the change between them (the machine's
    drift) joins each total's spread (``Advice.drift``). Candidates are probed fewest planned
    shapes first, and those planning more than ``MANY_SHAPES`` after the recheck: many compiles
    slow a process's later steps. ``warmup``: the
    first steps of a run (10, as ``geobatch advise``'s ``training.warmup``) whose excess over the
    steady time the cost model sets apart (caches, buffers and thread pools still warming up).
    ``loader_options`` go to ``geobatch.torch.DataLoader`` (``device``, ``pin_memory``,
    ``prefetch``). Progress goes to stderr (``progress``, default on: updated in place on a
    terminal, a line every 10 s elsewhere, a notebook or a log; ``progress=False`` silences it).
    """
    steps, probe_steps, warmup, validate_steps = _checked(
        step, steps, probe_steps, probe_seconds, warmup, validate, validate_steps, recheck, new_process)
    tables = [candidate_options(c) for c in _candidates(candidates)]
    if not tables:
        raise ValueError("no candidate batcher given")
    for t in tables:
        t.setdefault("batch_size", batch_size)
    framework, data = _framework(data, framework)
    sources, options = _sources(data, framework, tables, seed, loader_options)
    # every candidate's N steps are planned in full (padded and real shapes, their joins and the
    # native copy): a length that cannot be held is refused before anything is planned, by the
    # check Planner.plan_steps makes (it aborted the interpreter in an allocation)
    check_memory(steps * len(sources) * _BYTES_PER_STEP,
                 f"advise(steps={steps}) with {len(sources)} candidates")
    planned = [s.planned(steps) for s in sources]
    shapes = [len({tuple(r) for r in p[0].tolist()}) for p in planned]
    _warn_recompile_limit([(s.label, n) for s, n in zip(sources, shapes)], framework)
    title = title or f"your step, {framework} batches, batch size {batch_size}"
    runner = _Runner(step, init, state, sync or _default_sync, fresh, _Progress(progress))
    measured, cold, start_up = {}, {}, 0.0
    try:
        # one step thrown away first: the framework's one-time start-up (its backend, thread
        # pools, the first trace) is no candidate's, and would be charged to the first probe
        startup_ms, _ = runner(sources[0], 1, None, "start-up")

        def fitted(cands):
            model = [_model_input(c, warmup) for c in cands]
            return _annotated(_native.advise(candidates=model, steps=steps, warmup=warmup,
                                             measured=measured, title=title, measured_new_process=cold,
                                             new_process_ms=start_up), cands, startup_ms, warmup)

        cands = _probed_all(runner, sources, planned, shapes, options, probe_steps, float(probe_seconds),
                            warmup, recheck, fitted)
        result = fitted(cands)
        if validate:
            start_up = 1e3 * float(result["new_process_s"] or 0.0)
            for r in result["ranked"] if validate == "all" else result["ranked"][:2]:
                label = r["label"]
                try:
                    (measured if new_process is None else cold)[label] = _validation(
                        runner, sources[[s.label for s in sources].index(label)], new_process, framework,
                        options[label], seed, loader_options, validate_steps, progress)
                except _new_process.NewProcessError as e:
                    e.advice = _advice(fitted(cands), options, title, cands, {**measured, **cold})
                    raise
            result = fitted(cands)
    finally:
        runner.saved.restore()
    return _advice(result, options, title, cands, {**measured, **cold})


def _validation(runner: _Runner, source: _Source, new_process, framework: str, table: dict, seed: int,
                loader_options: dict, n: int, progress) -> np.ndarray:
    """One validation run of ``n`` steps, each step's time (ms): in this process with fresh
    caches, or with ``new_process`` in a new process of its own (``new_process.run``)."""
    if new_process is None:
        return runner(source, n, None, "validation")[0]
    return _new_process.run(new_process, framework, table, seed, loader_options, n, progress, source.label)[0]


def _advice(result: dict, options: dict, title: str, cands: List[dict], measured: dict) -> Advice:
    """The ``Advice`` of a fitted result: its probes' evidence and the validation runs."""
    probes = {
        c["label"]: {"ms": c["probe_ms"], "shape": c["probe_shape"], "cold": np.asarray(c["probe_cold"]),
                     "planned": c["padded"],
                     **({"recheck_ms": c["recheck_ms"]} if "recheck_ms" in c else {})}
        for c in cands
    }
    return Advice(result, options, title, probes, dict(measured))


def _probed_all(runner: _Runner, sources: List[_Source], planned: list, shapes: List[int], options: dict,
                probe_steps: int, probe_seconds: float, warmup: int, recheck: bool, fitted) -> List[dict]:
    """Every candidate probed, in the order of their planned ``shapes``, fewest first, and the
    first two rechecked (``_rechecked``) before the first probe of a candidate planning more than
    ``MANY_SHAPES`` shapes (after all, when fewer than two plan fewer): compiling many shapes
    changes the process for the steps that follow (under ``jax.jit`` the steady step of a
    candidate probed after static-64's 52 compiles was 15-25% slower than in a new process), and
    a candidate of one shape never meets that in its own run. ``fitted(cands)`` ranks the probed
    ones. The candidates come back in their given order."""
    order = sorted(range(len(sources)), key=lambda i: (shapes[i], i))
    few = sum(1 for i in order if shapes[i] <= MANY_SHAPES)
    cut = few if few >= 2 else len(order)
    done: dict = {}

    def again():
        probed = [done[i] for i in sorted(done)]
        _rechecked(runner, [sources[i] for i in sorted(done)], probed, fitted(probed)["ranked"][:2],
                   max(warmup + 20, probe_steps // 4), probe_seconds / 2)

    for k, i in enumerate(order):
        if recheck and len(order) > 1 and k == cut:
            again()
        done[i] = _probed(runner, sources[i], *planned[i], options[sources[i].label], probe_steps, probe_seconds,
                          warmup)
    if recheck and len(order) > 1 and cut == len(order):
        again()
    return [done[i] for i in range(len(sources))]


def _rechecked(runner: _Runner, sources: List[_Source], cands: List[dict], first: List[dict], steps: int,
               seconds: float) -> None:
    """The ``first`` candidates run again after the probes (``steps`` steps or ``seconds``):
    their steady time measured in a second stretch of the machine's time, kept in their
    ``recheck_ms`` and ``recheck_shape``."""
    labels = [s.label for s in sources]
    for r in first:
        i = labels.index(r["label"])
        ms, shapes = runner(sources[i], steps, seconds, "recheck")
        cands[i]["recheck_ms"] = ms
        cands[i]["recheck_shape"] = np.asarray(shapes, dtype=np.int64).reshape(-1, 3)


def _model_input(cand: dict, warmup: int) -> dict:
    """A candidate as the cost model takes it: its probe, then its recheck's steady steps (not
    a step on a shape new to the recheck, not warm-up) as more steady steps of their shapes."""
    again = cand.get("recheck_ms")
    if again is None:
        return cand
    keep = [i for i, c in enumerate(_cold([tuple(x) for x in cand["recheck_shape"].tolist()]))
            if not c and i >= warmup]
    out = dict(cand)
    out["probe_ms"] = np.concatenate([cand["probe_ms"], np.asarray(again, dtype=np.float64)[keep]])
    out["probe_shape"] = np.concatenate([cand["probe_shape"], cand["recheck_shape"][keep]])
    out["probe_cold"] = list(cand["probe_cold"]) + [False] * len(keep)
    out["probe_warmup"] = list(cand["probe_warmup"]) + [False] * len(keep)
    return out


def _checked(step, steps, probe_steps, probe_seconds, warmup, validate, validate_steps, recheck,
             new_process=None) -> tuple:
    """``advise``'s counts checked: (steps, probe_steps, warmup, validate_steps); a
    ``new_process`` asked only with a validation, and importable by a new process."""
    if new_process is not None:
        if not validate:
            raise ValueError("new_process=make makes the validation runs in new processes: give "
                             "validate=True or validate='all' with it")
        _new_process.check_make(new_process)
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
    if not isinstance(recheck, bool):
        raise TypeError(f"recheck must be True or False, got {recheck!r}")
    validate_steps = steps if validate_steps is None else _count(validate_steps, "validate_steps", 1)
    if not callable(step):
        raise TypeError(f"step must be callable, got {type(step).__name__}")
    return steps, probe_steps, warmup, validate_steps


def _sources(data, framework: str, tables: List[dict], seed: int, loader_options: dict):
    """(the candidates' sources, each label's batcher table); a label met twice gets its table
    added to it."""
    sources, options = [], {}
    for t in tables:
        source = _Source(data, framework, t, seed, loader_options)
        label = source.label
        if label in options:
            label = f"{label} {t}"
            source.label = label
        options[label] = t
        sources.append(source)
    return sources, options


class _Runner:
    """Runs the user's step on a candidate's batches: the training state put back first, the
    compile caches emptied (``fresh``), each step timed (``probing._run``)."""

    def __init__(self, step, init, state, sync, fresh, progress):
        self.step, self.init, self.sync, self.fresh, self.progress = step, init, sync, fresh, progress
        self.saved = _Saved(state)
        #: what the operating system did during the last run of steps (``probing._os_share``)
        self.os = None

    def __call__(self, source: _Source, n: int, limit: Optional[float], what: str, order=None,
                 steady: int = 0, warmup: int = 0):
        self.saved.restore()
        if callable(self.fresh):
            self.fresh()
        with _fresh() if self.fresh is True else contextlib.nullcontext():
            before = _os_account()
            ms, shapes = _run(self.step, source, n, limit, init=self.init, sync=self.sync,
                              progress=self.progress, what=f"{source.label} {what}", order=order,
                              steady=steady, warmup=warmup)
            self.os = _os_share(before, _os_account(), len(ms))
            return ms, shapes


def _probed(runner: _Runner, source: _Source, padded, real, table: dict, probe_steps: int,
            probe_seconds: float, warmup: int) -> dict:
    """One candidate probed, as the cost model takes it: its plan, fill, and each probe step's
    time, shape, and whether it was a new shape or warm-up."""
    # the classes of new shapes its plan meets most are probed first (evidence.py)
    order = evidence.teaching_order(source.first_epoch(), padded)
    # a probe whose time went on compiles measures its own steady steps all the same
    ms, shapes = runner(source, probe_steps, probe_seconds, "probe", order, steady=MIN_STEADY,
                        warmup=warmup)
    totals = real.sum(axis=0).astype(np.float64), padded.sum(axis=0).astype(np.float64)
    fill = tuple(float(r / p) if p else 0.0 for r, p in zip(totals[0][:2], totals[1][:2]))
    return {
        "label": source.label,
        "spec": ", ".join(f"{k} = {json.dumps(v)}" for k, v in table.items()),
        "padded": np.ascontiguousarray(padded, dtype=np.int64),
        "fill": fill,
        "graphs_per_step": float(real[:, 2].mean()),
        "probe_ms": ms,
        "probe_shape": np.asarray(shapes, dtype=np.int64).reshape(-1, 3),
        "probe_cold": _cold(shapes),
        "probe_warmup": [i < warmup for i in range(len(ms))],
        "os": runner.os,
    }
