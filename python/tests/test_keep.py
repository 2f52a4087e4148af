"""Batches kept the way people keep them (a list of an epoch's batches, a cache, a replay
buffer): each costs one buffer of its own, nothing is searched, and the memory goes back when
they are dropped; one collator serves several threads at once (a prefetch thread and the loop)."""

import threading

import numpy as np

import geobatch


def _plan(qm9, batch_size=32, graphs=800):
    """A plan of the first ``graphs`` molecules (the fixture's training split, or the first of
    full QM9's where it was fetched)."""
    train = qm9.splits["train"]
    plan = geobatch.Planner("pack", batch_size).plan_epoch(train.sizes[:graphs], seed=0)
    return train, plan


def _fingerprint(batch):
    """What a batch holds, as numbers (to compare with a batch collated alone)."""
    return (int(batch.senders.sum()), int(batch.receivers.sum()), int(batch.node_graph.sum()),
            float(batch.nodes["positions"].astype(np.float64).sum()),
            float(batch.graphs["targets"].astype(np.float64).sum()), tuple(batch.n_node.tolist()))


def test_kept_batches_keep_their_data_and_give_their_memory_back(qm9):
    train, plan = _plan(qm9)
    want = [_fingerprint(train.collator(plan.padded.max(axis=0)).collate_plan(plan, b))
            for b in range(len(plan))]
    c = train.collator(plan.padded.max(axis=0))
    kept = [c.collate_plan(plan, b) for b in range(len(plan))]
    assert c.buffers == len(plan)  # one buffer per batch alive
    assert [_fingerprint(b) for b in kept] == want
    # a view kept alone keeps its buffer; the rest go back (and beyond max_free are freed)
    view = kept[3].nodes["positions"][:5]
    expected_view = view.copy()
    del kept
    assert c.buffers <= c.max_free + 1
    np.testing.assert_array_equal(view, expected_view)
    for b in range(len(plan)):  # later batches reuse the buffers kept free
        assert _fingerprint(c.collate_plan(plan, b)) == want[b]
    np.testing.assert_array_equal(view, expected_view)
    del view
    assert c.buffers <= c.max_free


def test_max_free_bounds_the_buffers_kept_for_later(qm9):
    train, plan = _plan(qm9)
    c = train.collator(plan.padded.max(axis=0), max_free=2)
    kept = [c.collate_plan(plan, b) for b in range(min(10, len(plan)))]
    assert c.buffers == len(kept)
    del kept
    assert c.buffers == 2
    c.max_free = 0
    assert c.buffers == 0
    assert _fingerprint(c.collate_plan(plan, 0))  # a new buffer when none is kept


def test_one_collator_collates_on_several_threads_at_once(qm9):
    """A prefetch thread still finishing a batch while the loop's next pass starts collating on
    the same collator: each collation writes its own buffer (no 'Already borrowed')."""
    train, plan = _plan(qm9)
    want = [_fingerprint(train.collator(plan.padded.max(axis=0)).collate_plan(plan, b))
            for b in range(len(plan))]
    c = train.collator(plan.padded.max(axis=0))
    errors, wrong = [], []

    def work(offset):
        try:
            for k in range(3 * len(plan)):
                b = (k + offset) % len(plan)
                if _fingerprint(c.collate_plan(plan, b)) != want[b]:
                    wrong.append(b)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(o,)) for o in (0, 7, 13)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and wrong == []
