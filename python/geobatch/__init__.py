"""geobatch for Python: geobatch's batchers in your own PyTorch, PyG or JAX training loop.

* ``Planner`` / ``Plan``: a registered batcher by its config name planning an epoch (or the next N
  steps) from sizes alone, and each rank's equal share of it (``geobatch.planner``).
* ``BatchSampler``: the same as a batch sampler for ``torch.utils.data.DataLoader``, with exact
  ``len()``, ``set_epoch`` and ``state_dict`` (``geobatch.sampler``; torch is not imported).
* ``GraphStore`` / ``Collator``: concatenated per-graph arrays collated into reusable padded
  arrays in jraph's layout (``geobatch.store``); ``load_dataset`` reads geobatch's own datasets
  (``geobatch.datasets``).
* ``geobatch.torch`` (padding collate for PyG ``Data``, tensors) and ``geobatch.jraph``
  (``GraphsTuple``) import their framework on use.
* ``advise``: which batcher makes N steps of your own (compiled) training step the fastest,
  predicted from short probes of it and the exact padded shapes of the N steps
  (``geobatch.advice``).

docs/python.md has the guide; the ``python`` model's worker and bridge are ``geobatch.worker`` and
``geobatch.bridge``.
"""

from ._native import __version__
from .advice import Advice, advise
from .planner import Plan, Planner, batchers, check_sizes, checked_sizes
from .sampler import BatchSampler, PlannedBatch
from .datasets import Dataset, dataset_kinds, load_dataset
from .store import Collator, GraphStore, PaddedBatch

__all__ = [
    "Advice",
    "BatchSampler",
    "Collator",
    "Dataset",
    "GraphStore",
    "PaddedBatch",
    "Plan",
    "PlannedBatch",
    "Planner",
    "__version__",
    "advise",
    "batchers",
    "check_sizes",
    "checked_sizes",
    "dataset_kinds",
    "load_dataset",
]
