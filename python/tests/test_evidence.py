"""What an advice is sure of (geobatch/evidence.py): the probe meets the classes of new shapes
its plan meets most first, says which classes it priced from another, reports a tie within the
probes' spread and the framework's start-up, and shows progress off a terminal."""

import time

import numpy as np
import pytest

import geobatch
from geobatch import evidence
from geobatch.advice import _Source, candidate_options


@pytest.fixture(scope="module")
def train():
    return geobatch.load_dataset(kind="qm9", source="fixture").splits["train"]


def test_the_teaching_order_meets_the_most_frequent_classes_first():
    # shapes: (nodes, edges, graphs); step 0 starts; later new shapes: 2 new dims once,
    # 1 new dim three times, a new combination (0) once
    epoch = np.array([[64, 128, 17], [128, 256, 17], [64, 256, 17], [192, 128, 17],
                      [256, 128, 17], [320, 128, 17], [64, 128, 17]])
    assert evidence.novelty(epoch) == [3, 2, 0, 1, 1, 1, None]
    order = evidence.teaching_order(epoch, epoch)
    # the plan's most frequent class (one new dimension: three shapes) is met right after the
    # first step, and every step is still taken once
    assert evidence.novelty(epoch[order])[1] == 1 and order[1] == 2
    assert sorted(order) == list(range(len(epoch)))
    u = evidence.uncertainty(epoch, [(0, 0), (17.0, 2), (0, 0), (0, 0)])
    assert u == {"new_shapes": 5, "measured": {1: 3}, "extrapolated": {0: 1, 2: 1}}


def test_a_tie_is_closer_than_the_probes_spread():
    ranked = [{"label": "pack", "predicted_s": 100.0}, {"label": "dynamic", "predicted_s": 101.0}]
    t = evidence.tie(ranked, {"pack": 0.05, "dynamic": 0.02})
    assert t["labels"] == ["pack", "dynamic"] and abs(t["difference_pct"] - 1.0) < 1e-9
    assert evidence.tie(ranked, {"pack": 0.005, "dynamic": 0.002}) is None
    assert evidence.spread([50.0, 10.0, 10.0, 10.0], [True, False, False, False], [False] * 4) == 0.0


class ClassEngine:
    """A compiled step whose new shape costs by what is new about it (inductor's classes:
    a new combination 12, one new dimension 17, two 37 ms), a steady cost by padding."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.compiled, self.seen = set(), [set(), set(), set()]

    def __call__(self, batch):
        shape = batch.padded
        if shape not in self.compiled:
            dims = sum(shape[d] not in self.seen[d] for d in range(3))
            time.sleep((0.012, 0.017, 0.037, 0.037)[dims])
            self.compiled.add(shape)
            for d in range(3):
                self.seen[d].add(shape[d])
        time.sleep(4e-4 + 2e-6 * shape[0])


def test_a_short_probe_prices_the_classes_its_plan_meets_most(train, capsys):
    engine = ClassEngine()
    # a probe cut after one new shape (the 60 s under inductor: start-up and one
    # compile): in plan order that shape has two new dimensions, a class 3 of static-64's 23
    # new shapes have; the teaching order meets one with one new dimension (18 of 23)
    short = geobatch.advise(engine, train, steps=200, batch_size=16, candidates=["static:pad=multiple64"],
                            probe_steps=2, probe_seconds=0.001, fresh=engine.reset, warmup=0,
                            progress=False)
    counts = evidence.classes(short.probes["static-64"]["planned"])
    most = max(counts, key=counts.get)
    assert short.uncertainty["static-64"]["measured"] == {most: counts[most]}, (short.uncertainty, counts)
    assert "priced from another class" in repr(short)

    advice = geobatch.advise(engine, train, steps=200, batch_size=16, candidates=["static:pad=multiple64"],
                             probe_steps=14, probe_seconds=30, fresh=engine.reset, warmup=2)
    u = advice.uncertainty["static-64"]
    assert most in u["measured"], (u, counts)
    # measured against a cold run of the same plan
    source = _Source((train, None, np.int32), "arrays", dict(candidate_options("static:pad=multiple64"),
                                                             batch_size=16), 0, {})
    engine.reset()
    t0 = time.perf_counter()
    for _, (_, batch) in zip(range(200), source.batches()):
        engine(batch)
    measured = time.perf_counter() - t0
    predicted = advice.ranked[0]["predicted_s"]
    assert abs(predicted - measured) / measured < 0.15, (predicted, measured, u)
    text = repr(advice)
    assert "Start-up, once whatever the batcher" in text and advice.startup_s is not None
    # progress is shown off a terminal too (pytest's stderr is not one)
    assert "advise: static-64 probe" in capsys.readouterr().err
