"""Number-of-clicks (NoC) evaluation of any interactive predictor.

``predict(image, positives, negatives) -> mask`` receives the clicks so far as (m, 2) int arrays
of ``[x, y]`` (x = column, y = row) and returns an H x W mask (nonzero = object). The
error-driven clicker (:func:`annotate.clicks.iterative.next_click`) places up to ``max_clicks``
clicks; NoC@t is the first click count whose IoU reaches ``t``, or ``max_clicks`` when it
never does ("never reached").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from portraitkit.annotate.clicks.iterative import Click, iou, next_click

Predictor = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass
class NocResult:
    """One instance: IoU after each click (always ``max_clicks`` long), the clicks, NoC per threshold."""

    ious: list[float]
    clicks: list[Click]
    noc: dict[float, int]
    reached: dict[float, bool]


@dataclass
class NocSummary:
    instances: int
    max_clicks: int
    mean_noc: dict[float, float]
    never_reached: dict[float, int]
    mean_iou_per_click: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "instances": self.instances,
            "max_clicks": self.max_clicks,
            **{f"NoC@{round(t * 100)}": round(v, 4) for t, v in self.mean_noc.items()},
            **{f"never_reached@{round(t * 100)}": v for t, v in self.never_reached.items()},
            "mean_iou_per_click": [round(v, 4) for v in self.mean_iou_per_click],
        }


def _xy(clicks: list[Click], positive: bool) -> np.ndarray:
    pts = [(c.x, c.y) for c in clicks if c.positive == positive]
    return np.asarray(pts, np.int64).reshape(-1, 2)


def evaluate_instance(
    image: np.ndarray,
    gt: np.ndarray,
    predict: Predictor,
    max_clicks: int = 20,
    thresholds: Sequence[float] = (0.85, 0.90),
    rule: str = "area",
) -> NocResult:
    """Run the error-driven clicker on one object. Once the prediction is perfect no more clicks
    are needed and the IoU curve is carried forward."""
    if not np.any(gt):
        raise ValueError("empty ground-truth mask: NoC is undefined")
    pred = np.zeros(gt.shape, np.uint8)
    clicks: list[Click] = []
    ious: list[float] = []
    for _ in range(max_clicks):
        c = next_click(pred, gt, rule)
        if c is None:
            ious.append(ious[-1] if ious else 1.0)
            continue
        clicks.append(c)
        pred = np.asarray(predict(image, _xy(clicks, True), _xy(clicks, False)))
        if pred.shape != gt.shape:
            raise ValueError(f"predictor returned shape {pred.shape}, expected {gt.shape}")
        ious.append(iou(pred, gt))
    noc: dict[float, int] = {}
    reached: dict[float, bool] = {}
    for t in thresholds:
        hit = next((i + 1 for i, v in enumerate(ious) if v >= t), None)
        reached[t] = hit is not None
        noc[t] = hit if hit is not None else max_clicks
    return NocResult(ious, clicks, noc, reached)


def summarize(results: Sequence[NocResult], thresholds: Sequence[float] = (0.85, 0.90)) -> NocSummary:
    """Mean NoC per threshold, never-reached counts and mean IoU after each click."""
    n = len(results)
    max_clicks = len(results[0].ious) if n else 0
    mean_noc = {t: (float(np.mean([r.noc[t] for r in results])) if n else float("nan")) for t in thresholds}
    never = {t: sum(not r.reached[t] for r in results) for t in thresholds}
    curve = np.mean([r.ious for r in results], axis=0).tolist() if n else []
    return NocSummary(n, max_clicks, mean_noc, never, curve)


def evaluate(
    samples,
    predict: Predictor,
    max_clicks: int = 20,
    thresholds: Sequence[float] = (0.85, 0.90),
    rule: str = "area",
) -> tuple[NocSummary, list[NocResult]]:
    """NoC over ``samples``, an iterable of ``(image, gt_mask)``."""
    results = [evaluate_instance(img, gt, predict, max_clicks, thresholds, rule) for img, gt in samples]
    return summarize(results, thresholds), results
