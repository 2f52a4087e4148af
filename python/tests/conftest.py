"""Shared fixtures of the Python package's tests: QM9's training sizes as geobatch reads them
(the embedded 1,000-molecule fixture, or the full store where it was fetched), from the
repository root."""

import os
import pathlib

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def _steady_allocator():
    """glibc's malloc made to keep what it frees (no trimming, a fixed mmap threshold), as
    docs/advise.md ("The allocator") tells users who time steps: otherwise a JAX step's buffers
    are given back and faulted in again every step in some processes and not in others, and the
    tests that compare an advice's prediction with a run in the same process see the two speeds."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_trim_threshold, 2**31 - 1)
    libc.mallopt(m_mmap_threshold, 32 << 20)  # glibc's largest


_steady_allocator()


def binary() -> str:
    """The geobatch binary the tests run: ``$GEOBATCH_BIN``, else the release build (the test
    skips, saying how to make one, without either)."""
    path = os.environ.get("GEOBATCH_BIN") or str(REPO / "target/release/geobatch")
    if not os.access(path, os.X_OK):
        pytest.skip(f"no geobatch binary at {path} (cargo build --release, or set GEOBATCH_BIN)")
    return path


@pytest.fixture(scope="session")
def repo():
    return REPO


@pytest.fixture(scope="session")
def qm9():
    import geobatch

    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        return geobatch.load_dataset(str(REPO / "configs/examples/qm9-dynamic.toml"))
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="session")
def qm9_sizes(qm9):
    return qm9.splits["train"].sizes


@pytest.fixture
def random_sizes():
    rng = np.random.default_rng(3)
    n = rng.integers(1, 30, size=500)
    return np.stack([n, n * np.maximum(n - 1, 0)], axis=1)


#: every registered graph batcher with the options the tests plan with
BATCHERS = [
    ("dynamic", {}),
    ("pack", {}),
    ("static", {"pad": "multiple64"}),
    ("static", {"pad": "pow2"}),
    ("static", {"pad": "constant"}),
    ("atoms", {}),
]
