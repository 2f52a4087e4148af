"""A step for ``geobatch.advise``'s validation in new processes (``test_advice.py``): a compile
per new padded shape and a steady cost growing with the padding, timed for real with sleeps,
and a start-up on a process's first step, as a framework pays once; ``make`` builds it and the
fixture's training set anew, as a new process does."""

import time

import geobatch

#: the start-up a process's first step pays (s), as a framework's first use
STARTUP_S = 0.4
#: whether this process has paid its start-up
started = False


class Engine:
    """A step with a compile per new padded shape and a steady cost growing with the padding,
    like a jitted step: sleeps ``compile_s`` on a padded shape new to it, then ``base_s +
    per_node_s * nodes``; with ``startup``, the process's first step pays ``STARTUP_S``."""

    def __init__(self, compile_s=0.03, base_s=5e-4, per_node_s=4e-6, startup=False):
        self.compiled = set()
        self.compile_s, self.base_s, self.per_node_s = compile_s, base_s, per_node_s
        self.startup = startup

    def reset(self):
        self.compiled.clear()

    def __call__(self, batch):
        global started
        if self.startup and not started:
            started = True
            time.sleep(STARTUP_S)
        shape = batch.padded
        if shape not in self.compiled:
            self.compiled.add(shape)
            time.sleep(self.compile_s)
        time.sleep(self.base_s + self.per_node_s * shape[0])


def train():
    """The fixture's training split."""
    return geobatch.load_dataset(kind="qm9", source="fixture").splits["train"]


def make():
    """The step and the data, made anew."""
    return {"step": Engine(compile_s=0.02, startup=True), "data": train()}


def make_failing():
    """A maker whose step fails on its third step."""
    engine = Engine(compile_s=0.02, startup=True)
    calls = []

    def step(batch):
        calls.append(1)
        if len(calls) == 3:
            raise ValueError("the user's step failed on its third step")
        engine(batch)

    return {"step": step, "data": train()}


def make_wrong():
    """A maker that gives a key ``advise`` does not take."""
    return {"step": Engine(), "data": train(), "model": None}
