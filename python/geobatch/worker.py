"""geobatch's Python worker: runs a user module as a geobatch trainer (the `python` model).

geobatch starts ``python geobatch_worker.py`` (this file, embedded in geobatch's `python` model and
written beside ``geobatch_bridge.py``, which is ``geobatch/bridge.py``; ``python -m geobatch.worker``
runs the installed package's copy) and talks to it over a pipe, one JSON object per
line each way (requests on the original stdin, replies on the original stdout, both moved to
private descriptors at start; the module's own prints go to stderr and its stdin is /dev/null, so
``input()`` or ``breakpoint()`` end with an error instead of reading the protocol). Batches arrive in a shared-memory file that geobatch writes and this worker maps once:
the module gets read-only NumPy views of it (see geobatch_bridge.GraphBatch and NodeBatch).

The module protocol (docs/python.md):
    build(ctx) -> model                                      (ctx.task: "graph" or "node")
    model.train_step(batch, step, learning_rate) -> float   (returns when the device work is done)
    model.predict(batch) -> graph tasks: array (real graphs x targets), in target units;
                            node tasks: array (outputs x classes) of scores (logits or
                            log-probabilities; the worker takes the log-softmax)
    model.parameter_count() -> int
    model.state() -> picklable object;  model.load_state(state)
"""

import contextlib
import copy
import importlib
import importlib.util
import json
import math
import mmap
import os
import pickle
import shutil
import signal
import sys
import threading
import time
import traceback

PROTOCOL = 1


class ProtocolError(Exception):
    """The module broke the protocol (a missing function, a wrong return type)."""


def reply(out, payload):
    out.write((json.dumps(payload) + "\n").encode())
    out.flush()


def load_module(name):
    """Imports the user module from a .py path or a dotted module name."""
    if name.endswith(".py") or os.sep in name:
        path = os.path.abspath(name)
        if not os.path.isfile(path):
            raise ProtocolError(f"module file {name} does not exist")
        sys.path.insert(0, os.path.dirname(path))
        spec = importlib.util.spec_from_file_location(
            os.path.splitext(os.path.basename(path))[0], path
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module
    return importlib.import_module(name)


#: The key that marks geobatch's checkpoint wrapper around the module's state.
CHECKPOINT = "geobatch_checkpoint"

REQUIRED = ("train_step", "predict", "parameter_count", "state", "load_state")


def bridge_module():
    """The bridge beside this worker: geobatch's embedded copy (``geobatch_bridge.py`` in the
    worker's folder, where the `python` model writes both), else the installed package's
    ``geobatch.bridge`` (``python -m geobatch.worker``), registered under the embedded name so
    that modules importing ``geobatch_bridge`` find it."""
    try:
        import geobatch_bridge
    except ImportError:
        from geobatch import bridge as geobatch_bridge

        sys.modules["geobatch_bridge"] = geobatch_bridge
    return geobatch_bridge


class Worker:
    def __init__(self):
        import numpy as np

        geobatch_bridge = bridge_module()

        self.np = np
        self.bridge = geobatch_bridge
        self.model = None
        self.task = "graph"
        self.maps = {}
        self.best = None

    def op_init(self, req):
        module = load_module(req["module"])
        build = getattr(module, "build", None)
        if not callable(build):
            raise ProtocolError(f"module {req['module']} has no function build(ctx)")
        ctx = self.bridge.Context(req["ctx"])
        self.task = ctx.task
        model = build(ctx)
        missing = [m for m in REQUIRED if not callable(getattr(model, m, None))]
        if missing:
            raise ProtocolError(
                f"the model built by {req['module']} has no method "
                + ", ".join(f"{m}()" for m in missing)
            )
        self.model = model
        count = model.parameter_count()
        if isinstance(count, bool) or not isinstance(count, (int, self.np.integer)) or count < 0:
            raise ProtocolError(
                f"parameter_count() returned {count!r}, expected a non-negative int"
            )
        if count >= 2**64:
            raise ProtocolError(
                f"parameter_count() returned {count}, more than 2**64: expected the number of "
                "the model's parameters"
            )
        return {"parameter_count": int(count), "pid": os.getpid()}

    def batch(self, req):
        """Read-only views of the shared segment, laid out as the request says."""
        np = self.np
        path = req["segment"]
        SEGMENTS.add(path)
        mapped = self.maps.get(path)
        if mapped is None or len(mapped) < req["size"]:
            # a grown segment is mapped anew; the old map goes when no view of it is left
            self.maps.clear()
            with open(path, "rb") as f:
                mapped = mmap.mmap(f.fileno(), req["size"], access=mmap.ACCESS_READ)
            self.maps[path] = mapped
        node = self.task == "node"
        layout = self.bridge.NODE_ARRAYS if node else self.bridge.ARRAYS
        arrays = {}
        for (name, dtype, trailing), (offset, rows) in zip(layout, req["arrays"]):
            # a name in the trailing shape is one of the batch's scalars (n_targets, n_features)
            trailing = tuple(req[d] if isinstance(d, str) else d for d in trailing)
            count = rows * math.prod(trailing)
            view = np.frombuffer(mapped, dtype=dtype, count=count, offset=offset)
            arrays[name] = view.reshape((rows,) + trailing)
        if node:
            return self.bridge.NodeBatch(arrays, req)
        return self.bridge.GraphBatch(arrays, req["real"], req["padded"], req["n_targets"])

    def op_train_step(self, req):
        batch = self.batch(req)
        loss = self.model.train_step(batch, req["step"], req["learning_rate"])
        # a Python float, or a NumPy/JAX/torch scalar (0-d or one-element array) of a real
        # floating dtype; a bool, int, string, None or list is never taken for a loss
        value = floating(self.np, loss)
        if value is None or value.size != 1:
            raise ProtocolError(
                f"train_step() returned {describe(self.np, loss)}, expected a float (the loss: "
                "a Python float or a floating-point scalar of NumPy, JAX or torch)"
            )
        return {"loss": number(value.reshape(-1)[0])}

    def op_predict(self, req):
        np = self.np
        batch = self.batch(req)
        out = self.model.predict(batch)
        if self.task == "node":
            return node_predictions(np, out, batch.labels, batch.n_outputs, batch.n_classes)
        values = floating(np, out)
        want = (batch.real_graphs, batch.n_targets)
        if values is None:
            raise ProtocolError(
                f"predict() returned {describe(np, out)}, expected a floating-point array "
                f"(NumPy, JAX or torch) of shape {want}: one row per real graph, one column per "
                "target"
            )
        # one target may come as a vector; a transposed (targets, graphs) array never passes
        if values.shape != want and not (
            batch.n_targets == 1 and values.shape == (batch.real_graphs,)
        ):
            raise ProtocolError(
                f"predict() returned shape {values.shape}, expected {want}: one row per real "
                "graph, one column per target"
            )
        return {"predictions": [number(v) for v in values.reshape(-1)]}

    def op_save(self, req):
        # the parameters kept as the best so far go with the state: a resumed run keeps them
        with open(req["path"], "wb") as f:
            pickle.dump({CHECKPOINT: 1, "state": self.model.state(), "best": self.best}, f)
        return {}

    def op_load(self, req):
        with open(req["path"], "rb") as f:
            saved = pickle.load(f)
        if isinstance(saved, dict) and saved.get(CHECKPOINT) == 1:
            self.model.load_state(saved["state"])
            self.best = saved["best"]
        else:  # a checkpoint written before the best parameters were saved with it
            self.model.load_state(saved)
        return {}

    def op_keep_best(self, req):
        self.best = copy.deepcopy(self.model.state())
        return {}

    def op_restore_best(self, req):
        if self.best is None:
            return {"restored": False}
        self.model.load_state(copy.deepcopy(self.best))
        return {"restored": True}


def as_array(np, value):
    """`value` as a NumPy array when it is an array or a scalar that has a dtype (NumPy, JAX, a
    torch tensor, a Python number); None for anything else (a list, a tuple, None, an object)."""
    if hasattr(value, "detach"):  # torch: off the graph and the device
        value = value.detach().cpu()
    if not (hasattr(value, "dtype") or isinstance(value, (bool, int, float, complex))):
        return None
    try:
        return np.asarray(value)
    except Exception:  # noqa: BLE001 - anything that is not an array is the module's mistake
        return None


#: Floating dtypes NumPy does not know as such (ml_dtypes, which JAX uses): real numbers too.
EXTRA_FLOATS = ("bfloat16", "float8_", "float6_", "float4_")


def floating(np, value):
    """`value` as a float64 NumPy array when it is an array or scalar of a real floating dtype
    (float16/32/64, JAX's bfloat16 and float8), else None: integer, bool, complex, object and
    string dtypes, and lists, are not predictions or losses."""
    array = as_array(np, value)
    if array is None:
        return None
    kind, name = array.dtype.kind, array.dtype.name
    if kind == "f" or (kind == "V" and name.startswith(EXTRA_FLOATS)):
        return array.astype(np.float64)
    return None


def describe(np, value):
    """What a module returned, for an error: its type, and dtype and shape when it has them."""
    array = as_array(np, value)
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of length {len(value)}"
    if array is None or isinstance(value, (str, bytes)):
        return type(value).__name__
    if array.ndim == 0 and not hasattr(value, "shape"):
        return f"{type(value).__name__} ({value!r})"
    return f"{type(value).__name__} of dtype {array.dtype} and shape {tuple(array.shape)}"


def number(value):
    """A float for JSON: non-finite values travel as their names ("nan", "inf"), which JSON
    numbers cannot be."""
    value = float(value)
    return value if math.isfinite(value) else str(value)


def node_predictions(np, scores, labels, n_outputs, n_classes):
    """The reply to a node-level predict: the class of every output node (the largest score) and
    the summed negative log-likelihood of the labelled ones, from the log-softmax of the scores
    (so logits and log-probabilities give the same)."""
    values = floating(np, scores)
    if values is None:
        raise ProtocolError(
            f"predict() returned {describe(np, scores)}, expected a floating-point array "
            f"(NumPy, JAX or torch) of shape ({n_outputs}, {n_classes}): one row of class "
            "scores per output node"
        )
    scores = values
    if scores.shape != (n_outputs, n_classes):
        raise ProtocolError(
            f"predict() returned shape {scores.shape}, expected ({n_outputs}, {n_classes}): "
            "one row of class scores per output node"
        )
    top = scores.max(axis=1, keepdims=True)
    logp = scores - top - np.log(np.exp(scores - top).sum(axis=1, keepdims=True))
    labelled = np.flatnonzero(labels >= 0)
    nll = -logp[labelled, labels[labelled]].sum()
    return {"classes": [int(c) for c in scores.argmax(axis=1)], "nll": number(nll)}


def module_traceback(e):
    """The traceback of `e` from the first frame outside this worker (the module's code)."""
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(e), e, tb)).rstrip()


#: The batch segments geobatch gave this worker (removed by :func:`watch_parent`).
SEGMENTS = set()


def _parent():
    """geobatch's pid as it gave it (``GEOBATCH_PARENT``), or None."""
    parent = os.environ.get("GEOBATCH_PARENT")
    return int(parent) if parent and parent.isdigit() else None


def _after_parent():
    """What geobatch would have done at its end, done by the worker once it is gone: the
    segments it was given and its folder (``GEOBATCH_WORKER_DIR``) removed, then its process
    group killed, children included."""
    folder = os.environ.get("GEOBATCH_WORKER_DIR")
    for path in list(SEGMENTS):
        if os.path.basename(path).startswith("geobatch-batch-"):
            with contextlib.suppress(OSError):
                os.unlink(path)
    if folder and os.path.basename(folder).startswith("geobatch-python-"):
        shutil.rmtree(folder, ignore_errors=True)
    os.killpg(0, signal.SIGKILL)


def watch_parent():
    """Ends this worker when geobatch is gone. geobatch ends the worker's process group and
    removes its folder and segment however it ends itself, except when it is killed outright
    (SIGKILL, the OOM killer): then this thread, which sees the parent change, does it
    (:func:`_after_parent`). A module busy in a step still yields to it (Python switches threads
    every few milliseconds); a worker waiting for a request sees its requests end instead, and
    :func:`main` does it."""
    parent = _parent()
    if parent is None:
        return

    def watch():
        while os.getppid() == parent:
            time.sleep(0.1)
        _after_parent()

    threading.Thread(target=watch, name="geobatch-parent", daemon=True).start()


def _requests_ended():
    """The requests ended without a ``close``: geobatch is gone or going (a killed process's
    pipes close before its children are handed to another parent). Waits up to 2 s for the
    parent to change, then does what geobatch would have done (the watching thread, a daemon,
    would not outlive this return)."""
    parent = _parent()
    if parent is None:
        return
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        if os.getppid() != parent:
            _after_parent()
        time.sleep(0.02)


def main():
    watch_parent()
    # the protocol keeps the real stdout; everything printed from here on goes to stderr
    # Ctrl-C is geobatch's to handle (it stops after the step and checkpoints through us)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    # the requests move to a private descriptor; the module's stdin is /dev/null
    requests = os.fdopen(os.dup(0), "rb")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdin = open(os.devnull)  # noqa: SIM115 - for the process's lifetime
    try:
        worker = Worker()
    except ImportError as e:
        reply(out, {"error": f"{sys.executable} cannot import {e.name}: {e}", "missing": e.name})
        return
    reply(out, {"ready": PROTOCOL, "python": sys.version.split()[0], "executable": sys.executable})
    try:
        closed = serve(worker, requests, out)
    except BrokenPipeError:
        # a reply to a geobatch that is gone: a killed process's pipes close before its
        # children are handed to another parent, so a step that ends then meets a closed pipe
        closed = False
    if not closed:
        _requests_ended()


def serve(worker, requests, out):
    """Answers geobatch's requests: True once it asked to close (or the module was
    interrupted), False when its requests ended without a close."""
    for line in requests:
        if not line.endswith(b"\n"):
            return False  # cut short: geobatch ended while writing it
        req = json.loads(line)
        op = req.get("op")
        if op == "close":
            return True
        handler = getattr(worker, "op_" + str(op), None)
        try:
            if handler is None:
                raise ProtocolError(f"unknown request {op!r}")
            reply(out, {"ok": handler(req)})
        except ProtocolError as e:
            reply(out, {"error": str(e)})
        except BaseException as e:  # noqa: BLE001 - every failure of the module goes back
            missing = e.name if isinstance(e, ImportError) else None
            reply(out, {"error": module_traceback(e), "missing": missing})
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                return True
    return False


if __name__ == "__main__":
    main()
