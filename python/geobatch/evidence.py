"""What an advice is sure of (``geobatch.advise``): the order a probe meets its shapes in (the
classes of new shapes the plan meets most, first), which classes of a candidate's new shapes
were measured and which priced from another class, candidates closer than their totals' own
spread (a tie), and the framework's one-time start-up.

A new padded shape costs what is new about it: under torch.compile (inductor keeps kernels by
their source) a shape with new node and edge counts recompiles more than one with a new edge
count alone, or a new combination of known counts (docs/advise.md). A probe that met only one
class prices the others from it; the probe order below makes it meet the classes the plan
meets most first, and ``uncertainty`` says what was extrapolated."""

from __future__ import annotations

from collections import Counter
from typing import Dict, List, Optional, Sequence

import numpy as np

from .probing import _cold


def _new_dims(seen: List[set], shape) -> int:
    """How many of ``shape``'s dimensions ``seen`` lacks (``seen`` not changed)."""
    return sum(int(shape[d]) not in seen[d] for d in range(3))


def novelty(padded: np.ndarray) -> List[Optional[int]]:
    """For every step, the new dimensions of its shape when the shape is new to the run
    (``None``: a shape met before), as geobatch's cost model counts them."""
    seen: List[set] = [set(), set(), set()]
    shapes = set()
    out: List[Optional[int]] = []
    for s in map(tuple, np.asarray(padded).tolist()):
        dims = _new_dims(seen, s)
        for d in range(3):
            seen[d].add(s[d])
        out.append(dims if s not in shapes else None)
        shapes.add(s)
    return out


def classes(padded: np.ndarray) -> Counter:
    """How many new shapes of each class (new dimensions) a run of ``padded`` meets after its
    first step."""
    return Counter(d for d in novelty(padded)[1:] if d is not None)


def teaching_order(epoch: np.ndarray, planned: np.ndarray) -> List[int]:
    """The order a probe takes the steps of its first epoch (``epoch``: their padded shapes):
    the first step, then for each class of new shape the candidate's planned steps
    (``planned``) meet, most frequent first, the first step of the epoch that is a new shape of
    that class then; then the other steps in their planned order. A probe stopped after a few
    compiles has then priced the classes that weigh most in the prediction."""
    epoch = [tuple(s) for s in np.asarray(epoch).tolist()]
    if not epoch:
        return []
    seen: List[set] = [{epoch[0][d]} for d in range(3)]
    shapes = {epoch[0]}
    taught = [0]
    for c, _ in sorted(classes(planned).items(), key=lambda kv: (-kv[1], -kv[0])):
        for k in range(1, len(epoch)):
            s = epoch[k]
            if s not in shapes and _new_dims(seen, s) == c:
                taught.append(k)
                shapes.add(s)
                for d in range(3):
                    seen[d].add(s[d])
                break
    chosen = set(taught)
    return taught + [k for k in range(len(epoch)) if k not in chosen]


def spread(ms: Sequence[float], cold: Sequence[bool], warmup: Sequence[bool]) -> float:
    """How much the probe's steady time moves from stretch to stretch: the coefficient of
    variation of the means of its steady steps' (not the first, not a new shape's, not warm-up)
    four consecutive quarters. A total over many steps averages the step-to-step noise out but
    not a slower stretch of the machine, which this sees. With fewer than 8 steady steps, the
    steps' own coefficient of variation; 0 with fewer than two."""
    a = _steady(ms, cold, warmup)
    if len(a) < 2:
        return 0.0
    if len(a) >= 8:
        a = np.asarray([q.mean() for q in np.array_split(a, 4)])
    return float(a.std(ddof=1) / a.mean()) if a.mean() > 0 else 0.0


def uncertainty(planned: np.ndarray, by_new: Sequence[Sequence[float]]) -> Dict[str, object]:
    """Which of a candidate's new shapes were priced from their own class of the probes
    (``by_new``: the model's (mean ms, samples) by new dimensions) and which from another."""
    counts = classes(planned)
    measured = {c: n for c, n in counts.items() if c < len(by_new) and by_new[c][1] > 0}
    extrapolated = {c: n for c, n in counts.items() if c not in measured}
    return {"new_shapes": int(sum(counts.values())),
            "measured": {int(c): int(n) for c, n in sorted(measured.items())},
            "extrapolated": {int(c): int(n) for c, n in sorted(extrapolated.items())}}


def _steady(ms, cold, warmup) -> np.ndarray:
    """A run's steady steps: not the first, not a new shape's, not warm-up."""
    return np.asarray([m for i, (m, c, w) in enumerate(zip(ms, cold, warmup)) if i and not c and not w],
                      dtype=np.float64)


def drift(cands: Sequence[dict], warmup: int) -> Optional[Dict[str, object]]:
    """The machine's drift: for each candidate run again after the probes (``recheck_ms``),
    how far its recheck's steady time is from its probe's (%), and the spread that gives a
    steady time measured in two stretches (``spread``: the two stretches' standard deviation
    over their mean, the largest of the candidates'); ``None`` without a recheck."""
    moved = {}
    for c in cands:
        again = c.get("recheck_ms")
        if again is None:
            continue
        first = _steady(c["probe_ms"], c["probe_cold"], c["probe_warmup"])
        cold = _cold([tuple(x) for x in np.asarray(c["recheck_shape"]).tolist()])
        second = _steady(again, cold, [i < warmup for i in range(len(again))])
        if len(first) and len(second) and first.mean() > 0:
            moved[c["label"]] = float(100 * (second.mean() / first.mean() - 1))
    if not moved:
        return None
    # two stretches a and b: their standard deviation over their mean is |a - b| / (a + b) x sqrt 2
    spread = max(abs(m) / (200 + m) * np.sqrt(2) for m in moved.values())
    return {"moved_pct": moved, "spread": float(spread)}


def first_spread(first_ms: Sequence[float]) -> float:
    """The spread of a compile: the coefficient of variation of the candidates' first probe
    steps (each a first compile with empty caches); 0 with fewer than two."""
    a = np.asarray(first_ms, dtype=np.float64)
    if len(a) < 2 or a.mean() <= 0:
        return 0.0
    return float(a.std(ddof=1) / a.mean())


def noise_s(row: dict, spread: float, once: float, new_process: float = 0.0) -> float:
    """How far a candidate's predicted total may move from run to run (s): its steady part by
    its probe's ``spread``, and its one-time part (the first step, the new shapes:
    mostly compiles) by the spread of a compile ``once``. A run in a process of its own also
    pays the framework's start-up (``new_process``, s: its first compile), which moves from
    process to process as a compile does."""
    once_s = float(row.get("new_shape_s") or 0.0) + float(row.get("first_step_s") or 0.0)
    steady_s = max(float(row["predicted_s"]) - once_s, 0.0)
    return float(np.hypot(spread * steady_s, once * (once_s + max(new_process, 0.0))))


def new_process_s(startup_s: Optional[float], ranked: Sequence[dict]) -> Optional[float]:
    """What a new process adds to each total (s): its first step is the framework's start-up
    (``startup_s``, measured as this process's first step) where a probe's first step had the
    framework started; the candidates' first steps (excess and steady time) averaged."""
    if startup_s is None or not ranked:
        return None
    firsts = [float(r.get("first_step_s") or 0.0) + float(r.get("steady_ms") or 0.0) / 1e3 for r in ranked]
    return float(startup_s - np.mean(firsts))


def tie(ranked: Sequence[dict], spreads: Dict[str, float], once: float = 0.0,
        new_process: Optional[float] = None) -> Optional[dict]:
    """The first two candidates when their predicted totals differ by less than the two totals'
    own spread (``noise_s``): which is faster is then the machine's noise, not the batcher.
    ``spreads``: each candidate's probe ``spread``; ``once``: a compile's; ``new_process``: the
    start-up each run in a process of its own pays (``new_process_s``), whose spread between
    processes counts too (each candidate validated in a cold process pays its own)."""
    new_process = float(new_process or 0.0)
    if len(ranked) < 2:
        return None
    a, b = ranked[0], ranked[1]
    pa, pb = float(a["predicted_s"]), float(b["predicted_s"])
    if pa <= 0:
        return None
    noise = float(np.hypot(noise_s(a, spreads.get(a["label"], 0.0), once, new_process),
                           noise_s(b, spreads.get(b["label"], 0.0), once, new_process)))
    if pb - pa >= noise:
        return None
    return {"labels": [a["label"], b["label"]], "difference_pct": 100 * (pb - pa) / pa,
            "spread_pct": 100 * noise / pa}


#: the kernel's share of a probe's time above which the advice says so (``kernel``): a step
#: that computes spends a few percent there; a third is the allocator at work
KERNEL_SHARE = 0.2


def kernel(cands: Sequence[dict]) -> Optional[Dict[str, dict]]:
    """Per candidate whose probe spent more than ``KERNEL_SHARE`` of its time in the operating
    system's kernel: that share and the minor page faults a step (``None`` when none did, or
    the system cannot tell). Memory that the C allocator gives back and takes again on every
    step costs that time, and whether it does can change from one process to the next
    (docs/advise.md, "The allocator")."""
    found = {c["label"]: dict(c["os"]) for c in cands
             if c.get("os") and c["os"]["kernel"] > KERNEL_SHARE}
    return found or None


def notes(result: dict) -> str:
    """The lines the advice's text ends with: the start-up, a tie, the kernel's share, what was
    extrapolated."""
    lines = []
    startup = result.get("startup_s")
    if startup is not None:
        lines.append(
            f"Start-up, once whatever the batcher: {startup:.1f} s (the framework's first step in "
            "this process: its backend, thread pools, first trace and compile). The totals above "
            "hold each candidate's first step with the framework started; a new process pays the "
            "start-up in its place"
            + (f": {result['new_process_s']:+.1f} s on each total." if result.get("new_process_s") is not None
               else ".")
        )
    d = result.get("drift")
    if d and d.get("moved_pct"):
        moved = ", ".join(f"{label} {m:+.1f}%" for label, m in d["moved_pct"].items())
        lines.append(
            f"Drift: run again after the probes, the steady time moved by {moved}: the machine's "
            f"speed from one stretch to another, {100 * d['spread']:.1f}% of a steady time, in each "
            "total's spread."
        )
    t = result.get("tie")
    if t:
        lines.append(
            f"Tie: {t['labels'][0]} and {t['labels'][1]} are {t['difference_pct']:.1f}% apart, "
            f"less than their totals' own spread ({t['spread_pct']:.1f}%: the probes' spread from "
            "stretch to stretch on the steady steps, a compile's on the first step and the new "
            "shapes): "
            "either is as fast as this machine can tell (validate='all' measures both)."
        )
    k = result.get("kernel")
    if k:
        named = ", ".join(f"{label} {100 * v['kernel']:.0f}% ({v['faults_per_step']:,.0f} page faults a step)"
                          for label, v in k.items())
        lines.append(
            f"Kernel: the probes spent {named} of their time in the operating system: the C "
            "allocator giving memory back and taking it again every step, which can make one "
            "process 1.6x slower than the next on the same step. Start Python with "
            "MALLOC_TRIM_THRESHOLD_ and MALLOC_MMAP_THRESHOLD_ set (docs/advise.md, \"The "
            "allocator\") and advise again."
        )
    sure = result.get("uncertainty") or {}
    for label, u in sure.items():
        if u.get("extrapolated"):
            named = ", ".join(f"{n} with {c} new dimension{'s' if int(c) != 1 else ''}"
                              for c, n in u["extrapolated"].items())
            got = ", ".join(str(c) for c in u.get("measured", {})) or "none of its classes"
            lines.append(
                f"{label}: {sum(u['extrapolated'].values())} of its {u['new_shapes']} new shapes "
                f"({named}) are priced from another class of new shape (measured: {got}); "
                "a longer probe (probe_seconds) measures them."
            )
    return ("\n\n" + "\n".join(f"- {line}" for line in lines)) if lines else ""
