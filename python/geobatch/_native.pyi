# Type stubs of geobatch's extension module (python/src, PyO3). The package's public API is the
# pure-Python layer over it (geobatch.Planner, BatchSampler, GraphStore, Collator, ...), whose
# modules carry their own annotations.
from typing import Any, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

__version__: str
DEFAULT_DATA_DIR: str

Counts = Tuple[int, int, int]
PlanArrays = Tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.bool_],
]

def batchers() -> list[str]: ...
def dataset_kinds() -> list[str]: ...
def memory_limit() -> Optional[Tuple[float, str]]: ...
def advise(
    *,
    candidates: list[dict[str, Any]],
    steps: int,
    warmup: int,
    measured: dict[str, npt.NDArray[np.float64]],
    title: str,
    measured_new_process: dict[str, npt.NDArray[np.float64]] = ...,
    new_process_ms: float = ...,
) -> dict[str, Any]: ...
def greedy_batches(
    nodes: npt.NDArray[np.int64],
    edges: npt.NDArray[np.int64],
    graphs: npt.NDArray[np.int64],
    budget: Counts,
) -> Tuple[list[int], Optional[int]]: ...
def offset_edges(
    edge_index: npt.NDArray[np.int64],
    edges: npt.NDArray[np.int64],
    nodes: npt.NDArray[np.int64],
) -> None: ...
def pad_batch(
    real: tuple[int, int, int],
    padded: tuple[int, int, int],
    node_rows: Sequence[npt.NDArray[np.uint8]],
    edge_rows: Sequence[npt.NDArray[np.uint8]],
    graph_rows: Sequence[npt.NDArray[np.uint8]],
    edge_index: npt.NDArray[np.int64],
    n_node: npt.NDArray[Any],
    n_edge: npt.NDArray[Any],
) -> None: ...
def load_dataset(
    *,
    config: Optional[str] = None,
    table: Optional[dict[str, Any]] = None,
    seed: Optional[int] = None,
    data_dir: Optional[str] = None,
) -> dict[str, Any]: ...
def graph_edges(
    rule: dict[str, Any],
    positions: npt.NDArray[np.float64],
    node_offsets: npt.NDArray[np.int64],
    *,
    cells: Optional[npt.NDArray[np.float64]] = None,
    pbc: Optional[npt.NDArray[np.bool_]] = None,
) -> Tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.int32], npt.NDArray[np.float32]]: ...

def check_full_graphs(
    positions: npt.NDArray[np.float64],
    node_offsets: npt.NDArray[np.int64],
) -> None: ...

def edge_coverage(
    rule: dict[str, Any],
    node_offsets: npt.NDArray[np.int64],
    edge_offsets: npt.NDArray[np.int64],
    receivers: npt.NDArray[np.int32],
    periodic: bool,
) -> Optional[str]: ...

def check_finite_rows(
    what: str,
    rows: npt.NDArray[np.float64],
    node_offsets: npt.NDArray[np.int64],
) -> None: ...

class Sizes:
    def __init__(self, sizes: npt.NDArray[np.int64]) -> None: ...
    def __len__(self) -> int: ...

class Planner:
    def __init__(self, kind: str, *, options: dict[str, Any], quirks: str = "clean") -> None: ...
    @property
    def label(self) -> str: ...
    @property
    def batch_size(self) -> int: ...
    def options(self) -> dict[str, Any]: ...
    def budget_warning(self, sizes: Sizes) -> Optional[str]: ...
    def plan_epoch(
        self,
        sizes: Sizes,
        *,
        seed: int,
        epoch: int,
        rank: int,
        world_size: int,
        drop_last: bool,
        shuffle: bool,
    ) -> PlanArrays: ...
    def plan_steps(self, sizes: Sizes, *, seed: int, steps: int) -> PlanArrays: ...

class Lease:
    """The owner of one collated batch's buffer: the base of its arrays."""

class BoundPlan:
    def __len__(self) -> int: ...

class Collator:
    def __init__(
        self,
        *,
        node_offsets: npt.NDArray[np.int64],
        edge_offsets: Optional[npt.NDArray[np.int64]],
        senders_local: Optional[npt.NDArray[np.int32]],
        receivers_local: Optional[npt.NDArray[np.int32]],
        node_src: Sequence[npt.NDArray[np.uint8]],
        edge_src: Sequence[npt.NDArray[np.uint8]],
        graph_src: Sequence[npt.NDArray[np.uint8]],
        node_dtypes: Sequence[Tuple[np.dtype, Tuple[int, ...]]],
        edge_dtypes: Sequence[Tuple[np.dtype, Tuple[int, ...]]],
        graph_dtypes: Sequence[Tuple[np.dtype, Tuple[int, ...]]],
        capacity: Counts,
        index_dtype: np.dtype,
        pyg: bool,
        max_free: int,
        read_ahead: bool = ...,
    ) -> None: ...
    def collate(
        self, indices: npt.NDArray[np.int64], padded: Counts
    ) -> Tuple[Counts, Tuple[npt.NDArray[Any], ...]]: ...
    def bind(
        self,
        indices: npt.NDArray[np.int64],
        offsets: npt.NDArray[np.int64],
        padded: npt.NDArray[np.int64],
    ) -> BoundPlan: ...
    def collate_bound(
        self, plan: BoundPlan, b: int
    ) -> Tuple[Counts, Counts, Tuple[npt.NDArray[Any], ...]]: ...
    @property
    def leased(self) -> int: ...
    @property
    def free(self) -> int: ...
    @property
    def buffer_bytes(self) -> int: ...
    @property
    def read_ahead(self) -> bool: ...
    @property
    def max_free(self) -> int: ...
    @max_free.setter
    def max_free(self, value: int) -> None: ...
