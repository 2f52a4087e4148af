"""What an advice is sure of (``geobatch.advise``): the order a probe meets its shapes in (the
classes of new shapes the plan meets most, first), which classes of a candidate's new shapes
were measured and which priced from another class, candidates closer than the probes' own
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
    """The probe's step-to-step spread: the coefficient of variation of its steady steps (not
    the first, not a new shape's, not warm-up); 0 with fewer than two."""
    steady = [m for i, (m, c, w) in enumerate(zip(ms, cold, warmup)) if i and not c and not w]
    if len(steady) < 2:
        return 0.0
    a = np.asarray(steady, dtype=np.float64)
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


def tie(ranked: Sequence[dict], spreads: Dict[str, float]) -> Optional[dict]:
    """The first two candidates when their predicted totals differ by less than either's
    probe spread: which is faster is then the machine's noise, not the batcher."""
    if len(ranked) < 2:
        return None
    a, b = ranked[0], ranked[1]
    pa, pb = float(a["predicted_s"]), float(b["predicted_s"])
    if pa <= 0:
        return None
    diff = (pb - pa) / pa
    noise = max(spreads.get(a["label"], 0.0), spreads.get(b["label"], 0.0))
    if diff >= noise:
        return None
    return {"labels": [a["label"], b["label"]], "difference_pct": 100 * diff, "spread_pct": 100 * noise}


def notes(result: dict) -> str:
    """The lines the advice's text ends with: the start-up, a tie, what was extrapolated."""
    lines = []
    startup = result.get("startup_s")
    if startup is not None:
        lines.append(
            f"Start-up, once whatever the batcher: {startup:.1f} s (the framework's first step: "
            "its backend, thread pools and first trace), not in the totals above."
        )
    t = result.get("tie")
    if t:
        lines.append(
            f"Tie: {t['labels'][0]} and {t['labels'][1]} are {t['difference_pct']:.1f}% apart, "
            f"less than their probes' step-to-step spread ({t['spread_pct']:.1f}%): either is as "
            "fast as this machine can tell (validate='all' measures both)."
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
