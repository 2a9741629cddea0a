"""Interactive models: NoC with the clicks package's error-driven clicker, beside the GrabCut baseline.

Every non-crowd person of an image is clicked on its own (its own mask is the target): the model
and GrabCut each get up to ``clicks.max_clicks`` clicks from
:func:`annotate.clicks.noc.evaluate_instance`, placed by ``clicks.next_click_rule``. NoC@t is the
first click count reaching IoU t; a person that never does counts ``max_clicks`` and is counted as
failed. Persons smaller than ``evaluate.noc_min_area`` are clicked (the image's prediction needs
them) but left out of NoC.

The image-level prediction of an interactive model is the union of its persons' masks after
``evaluate.interactive_clicks`` clicks each; that is what ``iou`` / ``miou`` / ``boundary_iou`` and
``predictions/`` show for such a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from portraitkit.annotate.clicks.noc import NocResult, evaluate_instance, summarize

CURVE_MARKS = (1, 3, 5)


@dataclass
class Person:
    annotation_id: int
    area: int
    mask: np.ndarray  # H x W uint8 0/1
    in_noc: bool


@dataclass
class PersonRun:
    person: Person
    model: NocResult
    grabcut: NocResult | None


class _KthPrediction:
    """Wraps a predictor and keeps the mask of its k-th call (or the last one, if the clicker stopped early)."""

    def __init__(self, predict: Callable, k: int) -> None:
        self.predict, self.k, self.calls, self.mask = predict, k, 0, None

    def __call__(self, image, positives, negatives):
        mask = self.predict(image, positives, negatives)
        self.calls += 1
        if self.calls <= self.k:
            self.mask = mask
        return mask


def click_image(
    rgb: np.ndarray,
    bgr: np.ndarray,
    persons: Sequence[Person],
    predict: Callable,
    grabcut: Callable | None,
    max_clicks: int,
    thresholds: Sequence[float],
    rule: str,
    k: int,
) -> tuple[np.ndarray, list[PersonRun]]:
    """(image-level mask after ``k`` clicks per person, one run per person)."""
    union = np.zeros(rgb.shape[:2], np.uint8)
    runs = []
    for person in persons:
        rec = _KthPrediction(predict, k)
        budget = max_clicks if person.in_noc else min(k, max_clicks)
        result = evaluate_instance(rgb, person.mask, rec, budget, thresholds, rule)
        if rec.mask is not None:
            union |= (np.asarray(rec.mask) != 0).astype(np.uint8)
        base = None
        if grabcut is not None and person.in_noc:
            base = evaluate_instance(bgr, person.mask, grabcut, max_clicks, thresholds, rule)
        runs.append(PersonRun(person, result, base))
    return union, runs


def _tkey(t: float) -> str:
    return f"noc{round(t * 100)}"


def noc_metrics(results: Sequence[NocResult], thresholds: Sequence[float]) -> dict[str, float | int]:
    """``noc85``, ``noc85_failed``, ... and ``iou_at_1/3/5`` of a list of NoC runs."""
    s = summarize(list(results), thresholds)
    out: dict[str, float | int] = {"noc_instances": s.instances}
    for t in thresholds:
        out[_tkey(t)] = s.mean_noc[t]
        out[f"{_tkey(t)}_failed"] = s.never_reached[t]
    for k in CURVE_MARKS:
        out[f"iou_at_{k}"] = s.mean_iou_per_click[k - 1] if len(s.mean_iou_per_click) >= k else float("nan")
    return out


def curve_rows(
    model: Sequence[NocResult], grabcut: Sequence[NocResult] | None, max_clicks: int, thresholds: Sequence[float]
) -> list[list]:
    """Rows of the IoU-vs-clicks CSV: clicks, model mean IoU, GrabCut mean IoU (empty without a baseline)."""
    m = summarize(list(model), thresholds).mean_iou_per_click if model else []
    g = summarize(list(grabcut), thresholds).mean_iou_per_click if grabcut else []
    rows = []
    for i in range(max_clicks):
        rows.append([i + 1, round(m[i], 6) if i < len(m) else "", round(g[i], 6) if i < len(g) else ""])
    return rows
