"""``BatchSampler``: geobatch's batchers as a batch sampler for ``torch.utils.data.DataLoader``
(pure Python: torch is never imported here)."""

from __future__ import annotations

import hashlib
import sys
from typing import Iterator, Optional, Tuple

import numpy as np

from .planner import BUDGET_ARGS, MAX_WORLD_SIZE, Plan, Planner, _count, check_sizes, checked_sizes


class PlannedBatch(list):
    """The graph indices of one batch (a ``list``), with ``padded``: the (nodes, edges, graphs)
    the batch is padded to, and ``repeated``: whether it repeats a batch of the epoch."""

    __slots__ = ("padded", "repeated")

    def __init__(self, indices, padded, repeated=False):
        super().__init__(indices)
        self.padded = padded
        self.repeated = repeated

    def __reduce__(self):
        return (PlannedBatch, (list(self), self.padded, self.repeated))


def _distributed() -> tuple[int, int]:
    """(rank, world size) of an initialised ``torch.distributed`` process group, else (0, 1);
    torch is only consulted when the program has imported it."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _budget(sizes: np.ndarray, given: dict) -> dict:
    """A padded budget from PyG's ``max_num_*`` limits on real nodes, edges and graphs; a count
    not given is one that never binds (derived from the others and the sizes)."""
    n_max, e_max = int(sizes[:, 0].max()), int(sizes[:, 1].max())
    graphs = len(sizes)
    nodes = given.get("nodes")
    edges = given.get("edges")
    count = given.get("graphs")
    if nodes is not None and nodes < n_max:
        raise ValueError(
            f"max_num_nodes = {nodes}: graph {int(sizes[:, 0].argmax())} alone has {n_max} nodes"
        )
    if edges is not None and edges < e_max:
        raise ValueError(
            f"max_num_edges = {edges}: graph {int(sizes[:, 1].argmax())} alone has {e_max} edges"
        )
    if count is not None and count < 1:
        raise ValueError(f"max_num_graphs must be at least 1, got {count}")
    if nodes is None:
        nodes = int(sizes[:, 0].sum())
    if edges is None:
        # the most edges any set of graphs within the node limit can hold
        ratio = float((sizes[:, 1] / np.maximum(sizes[:, 0], 1)).max())
        edges = max(e_max, int(np.ceil(ratio * nodes)))
        edges = min(edges, int(sizes[:, 1].sum()))
    if count is None:
        count = min(graphs, nodes // max(int(sizes[:, 0].min()), 1))
    count = min(count, graphs)
    return {"nodes": nodes + 1, "edges": edges, "graphs": count + 1}


class BatchSampler:
    """Yields batches of graph indices planned by a geobatch batcher, for
    ``DataLoader(dataset, batch_sampler=BatchSampler(sizes, ...))``.

    ``sizes`` is an ``(N, 2)`` integer array of nodes and edges per graph (what the batcher plans
    from; the graphs are never loaded to size them). ``kind`` and ``**options`` name a registered
    batcher and its options as in a config's ``[batcher]`` table. ``max_num_nodes``,
    ``max_num_edges``, ``max_num_graphs`` (PyG's names) limit the real content of a batch and
    give the batcher an explicit budget (``dynamic`` unless ``kind`` says otherwise).

    Epochs: ``len()`` is the exact number of batches of this rank's epoch. After a complete pass
    the next one starts on the next epoch by itself; ``set_epoch(e)`` chooses one (as
    ``DistributedSampler`` does). Ranks: ``rank``/``world_size`` default to the initialised
    ``torch.distributed`` group, else one process; every rank gets as many batches
    (``Planner.plan_epoch``). ``state_dict()``/``load_state_dict()`` resume mid-epoch.
    Each yielded batch is a ``PlannedBatch`` (a list with ``padded`` and ``repeated``).
    """

    def __init__(
        self,
        sizes,
        kind: Optional[str] = None,
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int = 0,
        rank: Optional[int] = None,
        world_size: Optional[int] = None,
        drop_last: bool = False,
        max_num_nodes: Optional[int] = None,
        max_num_edges: Optional[int] = None,
        max_num_graphs: Optional[int] = None,
        quirks: str = "clean",
        **options,
    ):
        self.sizes = check_sizes(sizes)
        # checked once: every epoch's plan is made from these
        self._sizes = checked_sizes(self.sizes)
        given = {
            BUDGET_ARGS[k]: _count(v, k)
            for k, v in (
                ("max_num_nodes", max_num_nodes),
                ("max_num_edges", max_num_edges),
                ("max_num_graphs", max_num_graphs),
            )
            if v is not None
        }
        if given:
            if "budget" in options:
                raise ValueError("give either budget or max_num_nodes/edges/graphs, not both")
            options["budget"] = _budget(self.sizes, given)
            kind = kind or "dynamic"
        self.planner = Planner(kind or "pack", batch_size, quirks=quirks, **options)
        # counts derived from PyG's limits never bind: only a budget given whole is checked
        self.planner.warn_budget = not given or len(given) == 3
        if (rank is None) != (world_size is None):
            raise ValueError("give rank and world_size together (or neither)")
        if rank is None:
            rank, world_size = _distributed()
        self.world_size = _count(world_size, "world_size", 1, MAX_WORLD_SIZE)
        self.rank = _count(rank, "rank")
        if self.rank >= self.world_size:
            raise ValueError(f"rank must be below world_size ({self.world_size}), got {self.rank}")
        self.seed = _count(seed, "seed")
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        self._position = 0
        self._pass = (0, 0)
        self._plan: Optional[Plan] = None
        self._plan_epoch = -1
        # changed by every new pass, set_epoch and load_state_dict: a pass whose number is no
        # longer this one leaves the sampler's position alone
        self._generation = 0

    def set_epoch(self, epoch: int) -> None:
        """Starts epoch ``epoch`` at its first batch, with the next pass. Called in the middle
        of a pass, the pass in progress runs to its end as planned (its batches are not
        counted); the next pass is epoch ``epoch`` from its first batch (as
        ``DistributedSampler.set_epoch``, which takes effect at the next ``iter()``)."""
        self.epoch = _count(epoch, "epoch")
        self._position = 0
        self._pass = (self.epoch, 0)
        self._generation += 1

    def __repr__(self) -> str:
        return (
            f"BatchSampler({self.planner!r}, {len(self.sizes)} graphs, seed={self.seed}, "
            f"epoch={self.epoch}, position={self._position}, rank={self.rank}/{self.world_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last})"
        )

    def plan(self) -> Plan:
        """This rank's plan of the current epoch (computed once per epoch)."""
        if self._plan is None or self._plan_epoch != self.epoch:
            self._plan = self.planner.plan_epoch(
                self._sizes,
                seed=self.seed,
                epoch=self.epoch,
                rank=self.rank,
                world_size=self.world_size,
                drop_last=self.drop_last,
                shuffle=self.shuffle,
            )
            self._plan_epoch = self.epoch
        return self._plan

    def __len__(self) -> int:
        """The number of batches the next pass yields: the rest of the epoch after a resume or
        a pass left unfinished, else the whole epoch."""
        return len(self.plan()) - self._position

    def __iter__(self) -> Iterator[PlannedBatch]:
        plan, steps = self._pass_steps()
        return (
            PlannedBatch(plan[b].tolist(), tuple(int(x) for x in plan.padded[b]), bool(plan.repeated[b]))
            for b in steps
        )

    def _pass_steps(self) -> Tuple[Plan, Iterator[int]]:
        """The next pass: its plan and the numbers of the batches it yields (what ``__iter__``
        and geobatch.torch.DataLoader walk)."""
        # taken now, not at the generator's first step: DataLoader workers draw ahead, and
        # state_dict(consumed=k) counts from the start of the pass the loop is consuming
        plan = self.plan()
        self._pass = (self.epoch, self._position)
        self._generation += 1
        return plan, self._steps(plan, self._position, self._generation)

    def _steps(self, plan: Plan, start: int, generation: int) -> Iterator[int]:
        for b in range(start, len(plan)):
            if self._generation == generation:
                self._position = b + 1
            yield b
        # a complete pass: the next one is the next epoch (unless set_epoch or a newer pass
        # said otherwise meanwhile)
        if self._generation == generation:
            self.epoch += 1
            self._position = 0

    def _rewind(self, generation: int, consumed: int) -> None:
        """Puts the sampler back to ``consumed`` batches into the pass ``generation`` started,
        when that pass is still the latest and nothing chose another epoch since: a loader that
        drew batches ahead and stopped early (a ``break``) continues at the first batch its
        loop did not take."""
        if self._generation == generation:
            state = self.state_dict(consumed=consumed)
            self.epoch, self._position = state["epoch"], state["position"]

    def _fingerprint(self) -> str:
        h = hashlib.sha256(self.sizes.tobytes())
        h.update(repr((self.planner.options, self.planner.quirks, self.shuffle, self.drop_last)).encode())
        return h.hexdigest()[:16]

    def state_dict(self, consumed: Optional[int] = None) -> dict:
        """Where the sampler stands, with what the plan depends on (so that a resume with other
        sizes or options is refused).

        ``consumed=k``: the training loop has used ``k`` batches of the pass it is iterating
        (the latest ``iter()`` of the sampler, i.e. of the ``DataLoader``); right whatever
        ``DataLoader`` workers have drawn ahead, up to and past the epoch's end. Without it: the
        batches the sampler itself has yielded (right for a loop without read-ahead)."""
        if consumed is None:
            epoch, position = self.epoch, self._position
        else:
            epoch, start = self._pass
            size = len(self.planner.plan_epoch(
                self._sizes, seed=self.seed, epoch=epoch, rank=self.rank,
                world_size=self.world_size, drop_last=self.drop_last, shuffle=self.shuffle,
            )) if epoch != self.epoch else len(self.plan())
            position = start + _count(consumed, "consumed", 0, size - start)
            if position == size:
                epoch, position = epoch + 1, 0
        return {
            "epoch": epoch,
            "position": position,
            "seed": self.seed,
            "rank": self.rank,
            "world_size": self.world_size,
            "fingerprint": self._fingerprint(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Continues where ``state_dict()`` was taken: the next batch is the one after it."""
        for key in ("epoch", "position", "seed", "world_size", "fingerprint"):
            if key not in state:
                raise ValueError(f"state_dict has no {key!r}: not a geobatch BatchSampler state")
        if state["fingerprint"] != self._fingerprint() or state["seed"] != self.seed:
            raise ValueError(
                "the state belongs to another sampler (other sizes, batcher options or seed)"
            )
        if state["world_size"] != self.world_size:
            raise ValueError(
                f"the state was taken with world_size {state['world_size']}, this sampler has "
                f"{self.world_size}"
            )
        self.epoch = _count(state["epoch"], "epoch")
        position = _count(state["position"], "position")
        if position > len(self.plan()):
            raise ValueError(f"position {position} is past the epoch's {len(self.plan())} batches")
        self._position = position
        self._pass = (self.epoch, position)
        self._generation += 1
