"""The lifetime contract of a collated batch in the loops people write: a JAX step dispatched
asynchronously on ``batch.to_jraph()``, torch tensors made with ``from_numpy``, a prefetch
queue. The model never reads a later batch's data (docs/python.md, "Lifetime")."""

import collections
import queue
import threading

import numpy as np
import pytest

import geobatch


def _plan_and_collator(qm9, batch_size=32):
    train = qm9.splits["train"]
    plan = geobatch.Planner("pack", batch_size).plan_epoch(train.sizes, seed=0)
    return train, plan, train.collator(plan.padded.max(axis=0))


def _expected(train, plan, b):
    """What a step on batch b computes, from a copy collated alone."""
    c = train.collator(plan.padded.max(axis=0))
    batch = c.collate_plan(plan, b)
    pos = batch.nodes["positions"].astype(np.float64)
    d = pos[batch.receivers] - pos[batch.senders]
    return float((d * d).sum()), int(batch.senders.sum())


def test_jax_steps_read_their_own_batch_with_device_prefetch(qm9):
    """flax's ``prefetch_to_device`` pattern: batches put on the device two steps ahead. On the
    CPU ``jax.device_put`` of a NumPy array shares its memory, so a collator that wrote the next
    batches into the same buffers changed the arrays of the steps still to come (19 of 20 steps
    read another batch's data when the collator reused one buffer)."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    train, plan, collator = _plan_and_collator(qm9)
    n = min(20, len(plan))

    @jax.jit
    def step(g):
        pos = g.nodes["positions"]
        d = pos[g.receivers] - pos[g.senders]
        return jnp.sum(d * d), jnp.sum(g.senders)

    ahead = collections.deque()

    def put(b):
        ahead.append(jax.device_put(collator.collate_plan(plan, b).to_jraph()))

    put(0)
    put(1)
    results = []
    for b in range(n):
        graph = ahead.popleft()
        if b + 2 < n:
            put(b + 2)
        results.append(step(graph))  # dispatched, not waited for
        del graph
    for b, (dist, senders) in enumerate(results):
        want_d, want_s = _expected(train, plan, b)
        assert int(senders) == want_s, f"step {b} read another batch's senders"
        assert float(dist) == pytest.approx(want_d, rel=1e-4), f"step {b}"
    # three device batches alive at most, and the one being collated
    assert collator.buffers <= 4


def test_tensors_and_a_prefetch_queue_keep_their_batches(qm9):
    train, plan, collator = _plan_and_collator(qm9)
    n = min(24, len(plan))
    q: "queue.Queue" = queue.Queue(maxsize=4)

    def producer():
        for b in range(n):
            q.put((b, collator.collate_plan(plan, b)))
        q.put(None)

    t = threading.Thread(target=producer)
    t.start()
    held = []
    while (item := q.get()) is not None:
        b, batch = item
        # a consumer that keeps only an array of each batch (as from_numpy or an engine would)
        held.append((b, batch.senders, batch.receivers, batch.nodes["positions"]))
        del batch, item
    t.join()
    for b, senders, receivers, pos in held:
        want_d, want_s = _expected(train, plan, b)
        d = pos[receivers] - pos[senders]
        assert int(senders.sum()) == want_s, b
        assert float((d.astype(np.float64) ** 2).sum()) == pytest.approx(want_d, rel=1e-6), b


def test_torch_tensors_keep_their_batch(qm9):
    torch = pytest.importorskip("torch")
    train, plan, collator = _plan_and_collator(qm9)
    n = min(24, len(plan))
    batch = collator.collate_plan(plan, 0)
    tensors = batch.to_torch()
    del batch
    want = tensors["senders"].clone()
    for b in range(1, n):
        collator.collate_plan(plan, b)
    assert torch.equal(tensors["senders"], want)
