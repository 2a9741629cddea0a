"""One coarseness score per person from its signals.

Each signal named in ``params.flag.signals`` is mapped to a *badness* in [0, 1] by a linear
ramp: badness 0 at ``good``, 1 at ``bad``, clipped outside (``good`` may be above or below
``bad``). ``coarseness`` is the weighted mean of the badness of the signals that could be
computed (NaN signals, e.g. image signals of a missing image, are left out of the mean and
their weight with them), raised to the badness of any ``decisive`` signal (own ramps: one
clearly bad sign, e.g. a long chord through the person, is enough on its own)::

    coarseness = max(sum_i w_i * badness_i / sum_i w_i,  max_j decisive_badness_j)

A person is ``flagged`` when ``coarseness >= threshold``. ``reasons`` is one string, items
joined by ``;``: first the signals of a flagged person whose badness is >= ``reason_min``
(worst first), then every note about the input (``image_missing``, ``polygon_repaired:...``,
``image_converted:L``, ...), in the order they arose. A degenerate polygon (no area) has
coarseness 1 and is flagged.
"""

from __future__ import annotations

import math

REASON_SEP = ";"


def badness(value: float, good: float, bad: float) -> float:
    """Linear ramp: 0 at ``good``, 1 at ``bad``, clipped; NaN stays NaN."""
    if value is None or not math.isfinite(value):
        return float("nan")
    b = (value - good) / (bad - good)
    return float(min(1.0, max(0.0, b)))


def score(signals: dict[str, float], notes: list[str], params) -> tuple[float, bool, str, dict[str, float]]:
    """(coarseness, flagged, reasons, badness per signal) of one person."""
    bads: dict[str, float] = {}
    num = den = 0.0
    for name, ramp in params.signals.items():
        b = badness(signals.get(name, float("nan")), ramp.good, ramp.bad)
        bads[name] = b
        if ramp.weight > 0 and math.isfinite(b):
            num += ramp.weight * b
            den += ramp.weight
    decisive = {}
    for name, ramp in params.decisive.items():
        b = badness(signals.get(name, float("nan")), ramp.good, ramp.bad)
        if math.isfinite(b):
            decisive[name] = b
    if "polygon_degenerate" in notes:
        coarseness = 1.0
    else:
        coarseness = num / den if den > 0 else float("nan")
        if decisive:
            top = max(decisive.values())
            coarseness = top if not math.isfinite(coarseness) else max(coarseness, top)
    flagged = bool(math.isfinite(coarseness) and coarseness >= params.threshold)
    items: list[str] = []
    if flagged:
        named = {
            n: b
            for n, b in bads.items()
            if math.isfinite(b) and b >= params.reason_min and params.signals[n].weight > 0
        }
        for n, b in decisive.items():
            if b >= params.threshold:
                named[n] = max(b, named.get(n, 0.0))
        named = [(b, n) for n, b in named.items()]
        items.extend(n for _, n in sorted(named, key=lambda t: (-t[0], t[1])))
    items.extend(notes)
    return (round(float(coarseness), 6) if math.isfinite(coarseness) else float("nan")), flagged, REASON_SEP.join(items), bads


def decided_without(signals: dict[str, float], notes: list[str], params, pending: tuple[str, ...]) -> bool:
    """Is ``flagged`` the same whatever values in [0, 1] the ``pending`` signals (IoUs) turn out to have?"""
    best = score({**signals, **{k: 1.0 for k in pending}}, notes, params)[1]
    worst = score({**signals, **{k: 0.0 for k in pending}}, notes, params)[1]
    return best == worst
