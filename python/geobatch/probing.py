"""What ``geobatch.advise`` runs: each candidate's batches in the order a user's loop meets
them (``_Source``), the user's step timed on them (``_run``) with the compile caches emptied
first (``_fresh``) and the user's training state put back (``_Saved``), and the progress line."""

from __future__ import annotations

import contextlib
import copy
import sys
import time
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import numpy as np


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


def _run(step, source: _Source, n: int, limit_s: Optional[float], *, init, sync, progress, what,
         order=None, steady: int = 0, warmup: int = 0):
    """Runs ``step`` on the first ``n`` batches of ``source`` (fewer when ``limit_s`` passes,
    at least two; epoch 0's in ``order`` when given); returns each step's time (ms: the batch
    made, the step, its device work) and padded shape.

    With ``steady``, a run that ends with fewer than ``steady`` steady steps (after the
    ``warmup`` first, on a shape met before) goes on with epoch 0's batches of shapes it has met
    (those its plan meets most first), for at most ``limit_s`` more, until it has them: a probe
    whose time went on new shapes (compiles) still measures its own steady time."""
    ms, shapes, seen = [], [], set()
    state = {"carry": init}
    started = time.perf_counter()

    def take(batches, i, total):
        t0 = time.perf_counter_ns()
        shape, batch = next(batches)
        if init is not None:
            state["carry"] = step(state["carry"], batch)
            out = state["carry"]
        else:
            out = step(batch)
        sync(out)
        ms.append((time.perf_counter_ns() - t0) / 1e6)
        shapes.append(shape)
        seen.add(shape)
        elapsed = time.perf_counter() - started
        progress.update(what, i + 1, total, len(seen), elapsed)
        return elapsed

    batches = source.batches(order)
    try:
        for i in range(n):
            elapsed = take(batches, i, n)
            if limit_s is not None and elapsed >= limit_s and i >= 1:
                break
    finally:
        batches.close()
    need = steady - _steady_count(shapes, warmup)
    if need > 0 and limit_s is not None:
        _steady_steps(source, take, seen, warmup, need, len(ms), time.perf_counter() + limit_s)
    if what.endswith("start-up"):
        return np.asarray(ms, dtype=np.float64), shapes
    progress.update(what, len(ms), max(n, len(ms)), len(seen), time.perf_counter() - started, end=True)
    return np.asarray(ms, dtype=np.float64), shapes


def _steady_count(shapes: Sequence[tuple], warmup: int) -> int:
    """Steady steps of a run: after the ``warmup`` first, on a shape met before."""
    return sum(1 for i, cold in enumerate(_cold(shapes)) if i >= warmup and not cold)


def _steady_steps(source: _Source, take, seen: set, warmup: int, need: int, done: int,
                  deadline: float) -> None:
    """Steps on shapes the run has met (epoch 0's batches of those shapes, the ones its plan
    meets most first, over and over) until ``need`` of them are steady or ``deadline``."""
    epoch = [tuple(int(x) for x in s) for s in np.asarray(source.first_epoch()).tolist()]
    count: dict = {}
    for s in epoch:
        count[s] = count.get(s, 0) + 1
    known = sorted((k for k, s in enumerate(epoch) if s in seen), key=lambda k: (-count[epoch[k]], k))
    if not known:
        return
    # steps before the warm-up's end are not steady: as many more as reach past it
    extra = max(0, warmup - done) + need
    replay = [known[j % len(known)] for j in range(extra)]
    batches = source.batches(replay)
    try:
        for j in range(extra):
            take(batches, done + j, done + extra)
            if time.perf_counter() >= deadline:
                break
    finally:
        batches.close()


def _cold(shapes: Sequence[tuple]) -> List[bool]:
    """Whether each step is the first on its shape in its run (every run starts cold)."""
    seen = set()
    out = []
    for s in shapes:
        out.append(s not in seen)
        seen.add(s)
    return out


def _os_account() -> Optional[Tuple[float, float, int]]:
    """(wall s, kernel s, minor page faults) of this process so far, from the operating system
    (``getrusage``: every thread); ``None`` where there is no ``resource`` module (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    u = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), float(u.ru_stime), int(u.ru_minflt)


def _os_share(before, after, steps: int) -> Optional[dict]:
    """What the operating system did between two ``_os_account`` readings of ``steps`` steps:
    its kernel time as a share of the wall time (``kernel``), and minor page faults a step
    (``faults_per_step``)."""
    if before is None or after is None or steps <= 0 or after[0] <= before[0]:
        return None
    return {"kernel": (after[1] - before[1]) / (after[0] - before[0]),
            "faults_per_step": (after[2] - before[2]) / steps}
