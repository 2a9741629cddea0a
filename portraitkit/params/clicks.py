"""Params of the ``clicks`` section: simulated clicks for interactive segmentation.

Distances are in pixels of the original image. Count ranges are inclusive ``[min, max]``;
each click set draws its count uniformly from the range (the multi-point sampler draws
from a truncated geometric distribution instead, see ``mp_gamma``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from portraitkit.params.base import Section, execution_field

Strategy = Literal["xu_pos_neg1", "xu_pos_neg2", "xu_pos_neg3", "multipoint"]
ALL_STRATEGIES: tuple[str, ...] = ("xu_pos_neg1", "xu_pos_neg2", "xu_pos_neg3", "multipoint")


class MultipointNegProbs(Section):
    """Mixture weights of the multi-point sampler's negative sources (renormalised over non-empty ones)."""

    bg: float = Field(0.1, ge=0.0, description="Background anywhere outside the border ring.")
    other: float = Field(0.4, ge=0.0, description="Pixels of other objects of the same image.")
    border: float = Field(0.5, ge=0.0, description="Ring just outside the object, width mp_border_scale*sqrt(area).")

    @model_validator(mode="after")
    def _positive_total(self) -> "MultipointNegProbs":
        if self.bg + self.other + self.border <= 0:
            raise ValueError("bg + other + border must be > 0")
        return self


class ClicksParams(Section):
    sets_per_strategy: int = Field(3, ge=1, description="K: click sets per person instance and strategy.")
    strategies: list[Strategy] = Field(
        default_factory=lambda: list(ALL_STRATEGIES),
        description="Strategies to generate: xu_pos_neg1|xu_pos_neg2|xu_pos_neg3 (Xu et al. 2016 positives "
        "+ negative strategy 1/2/3) and multipoint (RITM-style).",
    )
    d_margin: float = Field(5, ge=0, description="Xu d_margin: min distance of any click from the object boundary.")
    d_step: float = Field(10, ge=0, description="Xu d_step: min distance between clicks of one kind in a set.")
    d_max: float = Field(40, gt=0, description="Xu D: strategy-1 negatives lie within this distance of the object.")
    n_pos: tuple[int, int] = Field((1, 5), description="Xu positives per set, [min, max].")
    n_neg1: tuple[int, int] = Field((0, 10), description="Strategy-1 (random background) negatives, [min, max].")
    n_neg2: tuple[int, int] = Field((0, 5), description="Strategy-2 (other objects) negatives, [min, max].")
    n_neg3: tuple[int, int] = Field((0, 10), description="Strategy-3 (boundary cover) negatives, [min, max].")
    neg3_band: float = Field(
        3, ge=0, description="Strategy-3 candidates: outside pixels at distance d_margin .. d_margin+neg3_band."
    )
    mp_max_points: int = Field(24, ge=1, description="Multi-point: max positives (and max negatives) per set.")
    mp_gamma: float = Field(0.8, gt=0.0, le=1.0, description="Multi-point: P(n clicks) proportional to gamma**n.")
    mp_pos_erode: float = Field(
        3, ge=0, description="Multi-point positives lie more than this far inside (whole object if none does)."
    )
    mp_border_scale: float = Field(0.025, gt=0.0, description="Multi-point border ring width = ceil(scale*sqrt(area)).")
    mp_neg_probs: MultipointNegProbs = MultipointNegProbs()
    next_click_rule: Literal["area", "depth"] = Field(
        "area",
        description="Error-driven click: pick the error region (false negatives vs false positives) with the "
        "larger area, or (depth) the one whose interior-most point is deeper (RITM).",
    )
    max_clicks: int = Field(20, ge=1, description="NoC evaluation: clicks per instance.")
    noc_thresholds: list[float] = Field(default_factory=lambda: [0.85, 0.90], description="NoC IoU thresholds.")
    disk_radius: int = Field(5, ge=0, description="Disk encoding: radius in pixels.")
    dist_truncate: int = Field(255, ge=1, le=255, description="Distance-map encoding: truncation (uint8 range).")
    workers: int = execution_field(2, ge=1, description="Processes over images; outputs never depend on it.")

    @field_validator("n_pos", "n_neg1", "n_neg2", "n_neg3")
    @classmethod
    def _range(cls, v: tuple[int, int]) -> tuple[int, int]:
        lo, hi = v
        if lo < 0 or hi < lo:
            raise ValueError(f"expected [min, max] with 0 <= min <= max (got [{lo}, {hi}])")
        return v

    @field_validator("strategies")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one strategy is needed")
        if len(set(v)) != len(v):
            raise ValueError(f"duplicate strategies in {v}")
        return v

    @field_validator("noc_thresholds")
    @classmethod
    def _thresholds(cls, v: list[float]) -> list[float]:
        if not v or any(not 0.0 < t <= 1.0 for t in v):
            raise ValueError(f"thresholds must be in (0, 1] (got {v})")
        return v
