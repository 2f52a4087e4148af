"""A validation run of ``geobatch.advise`` in a new process of its own (``new_process=make``):
the user's step and data made again by ``make`` in a fresh Python interpreter (started by
``multiprocessing``'s ``spawn``), with empty compile caches on disk too, and one candidate's
steps timed there from its first, as a training run started on its own meets them."""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import sys
import tempfile
import traceback
from typing import Any, Callable, Dict, Optional

import numpy as np

#: What ``make()`` may return, as ``advise`` takes them: the step and data, and the rest
_KEYS = ("step", "data", "init", "state", "sync")

#: Environment variables naming a compiler's cache on disk: a new process gets its own empty
#: folder for each (inductor's FX graphs and kernels, Triton's kernels), as a fresh machine has
_CACHE_DIRS = ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")
#: Environment variables that would give a new process an earlier run's compiles (JAX's
#: persistent compilation cache): left out of its environment
_CACHE_OFF = ("JAX_COMPILATION_CACHE_DIR",)


class NewProcessError(RuntimeError):
    """A validation run in a new process failed; ``advice`` holds the advice made before it
    (with the validation runs that finished), so nothing measured is lost."""

    #: the advice so far (``geobatch.Advice``), set by ``advise``
    advice: Any = None


def check_make(make: Callable) -> None:
    """Refuses a ``make`` a new process could not import, before anything is probed."""
    if not callable(make):
        raise TypeError(f"new_process must be a function that makes your step and data, got {type(make).__name__}")
    module = getattr(make, "__module__", None)
    main = sys.modules.get("__main__")
    if module == "__main__" and not getattr(main, "__file__", None):
        raise ValueError(
            f"new_process={getattr(make, '__qualname__', make)!r} is defined in an interactive session "
            "(a notebook or the REPL), which a new process cannot import: define it in a .py module "
            "and import it from there"
        )
    try:
        pickle.dumps(make)
    except Exception as e:  # pickle raises PicklingError, AttributeError, TypeError
        raise ValueError(
            f"new_process={make!r} cannot be sent to a new process ({type(e).__name__}: {e}): give a "
            "function defined at the top level of a module (not a lambda, a local function or a "
            "bound method of an object that cannot be pickled)"
        ) from None


def _made(made: Any) -> Dict[str, Any]:
    """``make()``'s answer as a dict with ``step`` and ``data``."""
    if isinstance(made, tuple) and len(made) == 2:
        made = {"step": made[0], "data": made[1]}
    if not isinstance(made, dict):
        raise TypeError(
            f"new_process: make() returned {type(made).__name__}; return a dict with 'step' and "
            f"'data' (and any of {list(_KEYS[2:])}), or a tuple (step, data)"
        )
    unknown = sorted(set(made) - set(_KEYS))
    if unknown:
        raise ValueError(f"new_process: make() returned unknown keys {unknown}; valid: {list(_KEYS)}")
    missing = [k for k in _KEYS[:2] if k not in made]
    if missing:
        raise ValueError(f"new_process: make() returned no {missing}; it must give 'step' and 'data'")
    return made


def _child(conn, make, framework: str, table: dict, seed: int, loader_options: dict, n: int,
           progress: Optional[bool], what: str) -> None:
    """In the new process: the step and data made, the candidate's ``n`` steps run and timed
    (as ``advise`` times a probe), each step's time and shape sent back."""
    try:
        from .probing import _default_sync, _framework, _Progress, _run, _Source

        made = _made(make())
        fw, data = _framework(made["data"], framework)
        source = _Source(data, fw, table, seed, loader_options)
        ms, shapes = _run(made["step"], source, n, None, init=made.get("init"),
                          sync=made.get("sync") or _default_sync, progress=_Progress(progress), what=what)
        conn.send(("ok", np.asarray(ms, dtype=np.float64), [tuple(s) for s in shapes]))
    except BaseException as e:  # everything goes back to the parent, named
        conn.send(("error", f"{type(e).__name__}: {e}", traceback.format_exc()))
    finally:
        conn.close()


@contextlib.contextmanager
def _cold_environment():
    """The parent's environment while a new process starts (it inherits it): each compiler
    cache on disk a new empty folder, JAX's persistent cache left out; put back after, the
    folders removed."""
    root = tempfile.mkdtemp(prefix="geobatch-new-process-")
    names = _CACHE_DIRS + _CACHE_OFF
    before = {k: os.environ.get(k) for k in names}
    try:
        for k in _CACHE_DIRS:
            os.environ[k] = os.path.join(root, k.lower())
        for k in _CACHE_OFF:
            os.environ.pop(k, None)
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(root, ignore_errors=True)


def run(make: Callable, framework: str, table: dict, seed: int, loader_options: dict, n: int,
        progress: Optional[bool], label: str):
    """``label``'s ``n`` steps in a new process of its own: each step's time (ms) and padded
    shape, the first step paying the framework's start-up and a cold compile."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    what = f"{label} validation in a new process"
    proc = ctx.Process(target=_child, name=f"geobatch-advise-{label}",
                       args=(send, make, framework, table, seed, loader_options, n, progress, what))
    with _cold_environment():
        proc.start()
        send.close()
        try:
            answer = receive.recv()
        except EOFError:
            answer = None
        finally:
            proc.join()
            receive.close()
    if answer is None:
        raise NewProcessError(
            f"{label}: the validation's new process ended (exit code {proc.exitcode}) before it sent "
            "its times; its error is above. A script that calls advise(new_process=...) must call it "
            "under `if __name__ == \"__main__\":` (the new process imports the script)"
        )
    if answer[0] == "error":
        raise NewProcessError(f"{label}: the validation in a new process failed: {answer[1]}\n{answer[2]}")
    return answer[1], answer[2]
