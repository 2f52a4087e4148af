"""Planning from sizes: a registered batcher by its config name, an epoch's plan, a rank's share.

Every plan is made by geobatch's Rust batchers (the same crates as the ``geobatch`` command) with
the GIL released; its arrays are NumPy arrays that own the Rust memory (no copy).
"""

from __future__ import annotations

import numbers
import os
import warnings
from typing import Any

import numpy as np

from . import _native

#: The most ranks an epoch is dealt to (geobatch_plans::MAX_WORLD_SIZE).
MAX_WORLD_SIZE = 2**20

#: PyG's names for a dynamic budget (PyG PR #10467) and the budget count each sets.
BUDGET_ARGS = {"max_num_nodes": "nodes", "max_num_edges": "edges", "max_num_graphs": "graphs"}


def batchers() -> list[str]:
    """Names of the registered graph-level batchers (``dynamic``, ``pack``, ``static``, and any a
    plugin crate linked into this build registers)."""
    return list(_native.batchers())


def check_sizes(sizes: Any, name: str = "sizes") -> np.ndarray:
    """``sizes`` as a C-contiguous ``(N, 2)`` int64 array of nodes and edges per graph, or a
    ``ValueError``/``TypeError`` that names the argument and the first bad row."""
    a = np.asarray(sizes)
    if a.ndim != 2 or a.shape[1] != 2:
        raise ValueError(
            f"{name} must be an (N, 2) array of nodes and edges per graph, got shape {a.shape}"
        )
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers (node and edge counts), got dtype {a.dtype}")
    if a.shape[0] == 0:
        raise ValueError(f"{name} is empty: there is nothing to plan")
    if a.dtype.kind == "i" and (a < 0).any():
        row = int(np.argwhere(a < 0)[0, 0])
        raise ValueError(f"{name}[{row}] = {a[row].tolist()}: counts cannot be negative")
    if a.dtype == np.uint64 and (a > np.iinfo(np.int64).max).any():
        row = int(np.argwhere(a > np.iinfo(np.int64).max)[0, 0])
        raise ValueError(f"{name}[{row}] = {a[row].tolist()}: counts too large")
    return np.ascontiguousarray(a, dtype=np.int64)


def checked_sizes(sizes: Any) -> "_native.Sizes":
    """``sizes`` checked once, where they enter: a native ``Sizes`` (what plans are made from) as
    given, else an array checked by ``check_sizes`` and kept natively, so that planning it again
    checks nothing."""
    if isinstance(sizes, _native.Sizes):
        return sizes
    return _native.Sizes(check_sizes(sizes))


def _count(value: Any, name: str, low: int = 0, high: int = 2**63 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if int(value) < low:
        raise ValueError(f"{name} must be at least {low}, got {value}")
    if int(value) > high:
        raise ValueError(f"{name} must be at most {high}, got {value}")
    return int(value)


def available_memory() -> int:
    """Bytes this process may still allocate: the lowest of the machine's available memory, the
    process's address-space limit (``ulimit -v``, less what it has mapped) and its cgroup's memory
    limit, read by the same code that bounds the runner's sizes; the free physical memory where
    none can be read."""
    return _memory_limit()[0]


def _memory_limit() -> tuple[int, str]:
    limit = _native.memory_limit()
    if limit is not None:
        return int(limit[0]), limit[1]
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "this machine has free"
    except (ValueError, OSError, AttributeError):
        return 2**62, "unknown"


def check_memory(need: float, what: str) -> None:
    """A ``MemoryError`` naming ``what`` when ``need`` bytes are more than this process may
    allocate (``available_memory``), before anything is allocated."""
    have, which = _memory_limit()
    if need > have:
        raise MemoryError(f"{what} needs about {need / 2**30:.1f} GiB, more than the {have / 2**30:.1f} GiB {which}")


class Plan:
    """Batches planned from sizes: ``indices`` (graph indices, batch after batch), ``offsets``
    (batches + 1; batch ``b`` is ``indices[offsets[b]:offsets[b + 1]]``), ``real`` and
    ``padded`` (batches x 3: nodes, edges, graphs), ``repeated`` (a batch that repeats one of the
    epoch to give every rank as many; see ``Planner.plan_epoch``). The same arrays as Rust's
    ``geobatch_plans::Plans`` (where ``Plan`` is one batch's plan)."""

    __slots__ = ("indices", "offsets", "real", "padded", "repeated")

    def __init__(self, indices, offsets, real, padded, repeated):
        self.indices = indices
        self.offsets = offsets
        self.real = real
        self.padded = padded
        self.repeated = repeated

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, b: int) -> np.ndarray:
        """The graph indices of batch ``b`` (a view)."""
        n = len(self)
        if not -n <= b < n:
            raise IndexError(f"batch {b} of a plan of {n} batches")
        b %= n
        return self.indices[self.offsets[b] : self.offsets[b + 1]]

    def shapes(self) -> list[tuple[int, int, int]]:
        """The distinct padded shapes, sorted: what a shape-specialising compiler compiles."""
        return sorted({tuple(int(x) for x in row) for row in self.padded})

    def fill(self) -> tuple[float, float, float]:
        """Real over padded nodes, edges and graphs, summed over the batches."""
        r, p = self.real.sum(axis=0), self.padded.sum(axis=0)
        return tuple(float(a) / float(b) if b else 0.0 for a, b in zip(r, p))

    def __repr__(self) -> str:
        return f"Plan({len(self)} batches, {len(self.indices)} graphs, {len(self.shapes())} shapes)"


class Planner:
    """A registered graph-level batcher built by its config name with the config's options, e.g.
    ``Planner("static", batch_size=32, pad="multiple64")``, ``Planner("pack", batch_size=32)`` or
    ``Planner("dynamic", budget={"nodes": 1024, "edges": 16384, "graphs": 33})``.

    ``quirks="reference"`` reproduces the study's stream quirks (docs/batching.md). Unknown
    names, unknown options and bad values raise ``ValueError`` with the valid choices.
    """

    def __init__(self, kind: str, batch_size: int = 32, *, quirks: str = "clean", **options):
        if not isinstance(kind, str):
            raise TypeError(f"kind must be a batcher name, one of {batchers()}, got {kind!r}")
        # one graph is always kept for padding: 2 is the least for every batcher, as in Rust
        batch_size = _count(batch_size, "batch_size", 2)
        table = {"kind": kind, "batch_size": batch_size, **options}
        self._native = _native.Planner(kind, options={"batch_size": batch_size, **options}, quirks=quirks)
        self.kind = kind
        self.quirks = quirks
        self._table = table
        #: whether plans warn about a budget far from the sizes (off where it was derived)
        self.warn_budget = True

    def __getstate__(self) -> dict:
        return {"table": self._table, "quirks": self.quirks}

    def __setstate__(self, state: dict) -> None:
        table = dict(state["table"])
        self.__init__(table.pop("kind"), table.pop("batch_size"), quirks=state["quirks"], **table)

    @property
    def label(self) -> str:
        """The batcher's label in geobatch's tables (``static-64``, ``pack``, ...)."""
        return self._native.label

    @property
    def batch_size(self) -> int:
        """The configured batch size."""
        return self._native.batch_size

    @property
    def options(self) -> dict:
        """Every option of the batcher, defaults included."""
        return self._native.options()

    def plan_epoch(
        self,
        sizes,
        *,
        seed: int,
        epoch: int = 0,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
        shuffle: bool = True,
    ) -> Plan:
        """One pass over the graphs of ``sizes`` (an ``(N, 2)`` integer array of nodes and edges
        per graph, or those already checked by ``checked_sizes``), in the order of epoch ``epoch`` of ``seed``: every graph once, the last
        batch possibly partly filled. Epoch 0 is the first pass of a geobatch training run with
        the same seed and batcher.

        With ``world_size = R`` every rank computes the same global plan and takes its share:
        as many batches on every rank (``ceil(B / R)``, the missing ones repeating the epoch's
        smallest batches and flagged in ``repeated``; ``floor(B / R)`` with ``drop_last``), the
        batches of a step of similar real work, and one padded shape per step on every rank.
        Without ``drop_last``, a last batch the end of the pass cut short is completed with the
        pass's first graphs (up to the graph count of the epoch's smallest full batch).
        """
        sizes = checked_sizes(sizes)
        seed = _count(seed, "seed")
        epoch = _count(epoch, "epoch")
        world_size = _count(world_size, "world_size", 1, MAX_WORLD_SIZE)
        rank = _count(rank, "rank")
        if rank >= world_size:
            raise ValueError(f"rank must be below world_size ({world_size}), got {rank}")
        self._warn_budget(sizes)
        return Plan(
            *self._native.plan_epoch(
                sizes,
                seed=seed,
                epoch=epoch,
                rank=rank,
                world_size=world_size,
                drop_last=bool(drop_last),
                shuffle=bool(shuffle),
            )
        )

    def _warn_budget(self, sizes: "_native.Sizes") -> None:
        warning = self.warn_budget and self._native.budget_warning(sizes)
        if warning:
            warnings.warn(f"Planner({self.kind!r}): {warning}", stacklevel=3)

    def plan_steps(self, sizes, *, seed: int, steps: int) -> Plan:
        """The first ``steps`` batches of geobatch's training stream with this seed (passes
        reshuffled and spanned, as in ``geobatch run``): the exact padded shapes of the next
        ``steps`` steps, as ``geobatch advise`` plans them."""
        sizes = checked_sizes(sizes)
        steps = _count(steps, "steps", 1)
        # a plan holds 8 bytes per graph index and 57 per batch; batches of small graphs hold up
        # to the budget's graph slots, which for the estimated budgets stay under 2 x batch_size
        per_step = 57 + 8 * 2 * max(self.batch_size, 1)
        check_memory(steps * per_step, f"plan_steps(steps={steps})")
        self._warn_budget(sizes)
        return Plan(*self._native.plan_steps(sizes, seed=_count(seed, "seed"), steps=steps))

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.options.items() if k != "kind")
        quirks = "" if self.quirks == "clean" else f", quirks={self.quirks!r}"
        return f"Planner({self.kind!r}, {options}{quirks})"
