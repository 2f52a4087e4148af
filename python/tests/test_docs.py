"""Every ```python block of the Python docs runs as written, in order, in one namespace per
document (as a reader pastes them), from the repository root: docs/python.md, README.md and
docs/advise.md.
A block whose first line is ``# not run: <why>`` is a signature or a sketch and is skipped; a
block that imports torch, PyG or jraph runs where they are installed."""

import os
import re

import pytest

DOCS = ["docs/python.md", "README.md", "docs/advise.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def blocks(repo, doc):
    return BLOCK.findall((repo / doc).read_text())


@pytest.mark.parametrize("doc", DOCS)
def test_every_python_snippet_runs(repo, doc):
    found = blocks(repo, doc)
    ran, missing = 0, set()
    cwd = os.getcwd()
    os.chdir(repo)
    namespace = {"__name__": "__docs__"}
    try:
        for i, code in enumerate(found):
            if code.startswith("# not run:"):
                continue
            needs = {m for m in ("torch", "torch_geometric", "jraph", "jax") if re.search(rf"\b{m}\b", code)}
            absent = {m for m in needs if _absent(m)}
            if absent:
                missing |= absent
                continue
            try:
                exec(compile(code, f"{doc} block {i + 1}", "exec"), namespace)
            except Exception as e:  # noqa: BLE001 - the block's number and text make the message
                raise AssertionError(f"{doc}, python block {i + 1} fails: {e!r}\n{code}") from e
            ran += 1
    finally:
        os.chdir(cwd)
    # the blocks that need nothing beyond NumPy and JAX run everywhere the tests run
    least = {"docs/python.md": 3, "README.md": 1, "docs/advise.md": 0}[doc]
    assert ran >= least, f"only {ran} blocks ran"
    if missing and not ran:
        pytest.skip(f"{doc}: needs {sorted(missing)}")


def _absent(module):
    try:
        __import__(module)
    except ImportError:
        return True
    return False
