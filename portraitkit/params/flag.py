"""Params of the ``flag`` section: coarseness scoring of person polygons.

Every signal is mapped to a "badness" in [0, 1] by a linear ramp between ``good`` (badness 0)
and ``bad`` (badness 1); ``good`` may be larger or smaller than ``bad``. ``coarseness`` is the
larger of the weighted mean of the badness of the available signals (``signals``) and the
badness of each ``decisive`` signal (one clearly bad sign is enough; see
``curate/coarseness/score.py``).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from portraitkit.params.base import Section, execution_field


class DecisiveRamp(Section):
    """A decisive signal's ramp: its badness alone bounds coarseness from below (no weight)."""

    good: float = Field(description="Signal value with badness 0.")
    bad: float = Field(description="Signal value with badness 1.")

    @model_validator(mode="after")
    def _distinct(self) -> "DecisiveRamp":
        if self.good == self.bad:
            raise ValueError(f"good and bad must differ (both {self.good:g})")
        return self


class Ramp(DecisiveRamp):
    weight: float = Field(1.0, ge=0.0, description="Weight in the coarseness mean (0: reported only).")


def _default_signals() -> dict[str, Ramp]:
    # chosen by bench/flag_tune.py (tune half of the real COCO hand labels + synthetic sets); = params.yaml
    return {
        # image signals
        "refine_biou": Ramp(good=0.80, bad=0.45, weight=2.0),
        "refine_iou": Ramp(good=0.97, bad=0.85, weight=0.0),
        "edge_alignment": Ramp(good=0.85, bad=0.50, weight=2.0),
        "off_edge_frac": Ramp(good=0.05, bad=0.30, weight=3.0),
        "edge_contrast": Ramp(good=2.5, bad=1.0, weight=0.0),
        # polygon signals
        "vertex_density": Ramp(good=4.0, bad=0.8, weight=1.0),
        "longest_edge_rel": Ramp(good=0.25, bad=0.80, weight=1.0),
        "hull_gap": Ramp(good=0.25, bad=0.05, weight=0.0),
        "n_parts": Ramp(good=1.0, bad=4.0, weight=0.0),
        "vertex_spacing_rel": Ramp(good=0.08, bad=0.25, weight=3.0),
    }


def _default_decisive() -> dict[str, DecisiveRamp]:
    return {"chord_rel": DecisiveRamp(good=0.0, bad=1.6), "vertex_density": DecisiveRamp(good=4.0, bad=0.6),
            "edge_contrast": DecisiveRamp(good=1.4, bad=0.9)}


SIGNAL_NAMES = ("refine_biou", "refine_iou", "edge_alignment", "off_edge_frac", "edge_contrast", "chord_rel",
                "vertex_density", "longest_edge_rel", "vertex_spacing_rel", "hull_gap", "n_parts")
IMAGE_SIGNALS = ("refine_biou", "refine_iou", "edge_alignment")


class FlagParams(Section):
    threshold: float = Field(0.53, ge=0.0, le=1.0, description="flagged = coarseness >= threshold.")
    reason_min: float = Field(
        0.5, ge=0.0, le=1.0, description="A signal is named in `reasons` of a flagged row when its badness >= this."
    )
    signals: dict[str, Ramp] = Field(default_factory=_default_signals)
    decisive: dict[str, DecisiveRamp] = Field(
        default_factory=_default_decisive,
        description="Signals whose badness alone sets a lower bound on coarseness.",
    )
    workers: int = execution_field(2, ge=1, description="Processes, parallel over images; outputs never depend on it.")
    work_side: int = Field(
        128, ge=32, le=2048, description="Longer side (px) of the person crop the image signals are computed on."
    )
    crop_pad: float = Field(0.12, ge=0.0, le=1.0, description="Crop padding around the bbox, fraction of its longer side.")
    seed_band: float = Field(
        0.07, gt=0.0, le=0.5,
        description="GrabCut seeds: mask eroded / dilated by this fraction of sqrt(area); the band between is 'probable'.",
    )
    grabcut_iters: int = Field(2, ge=1, le=10)
    skip_decided_refine: bool = Field(
        True, description="Skip GrabCut (refine_* NaN) when the other signals decide `flagged` whatever it gives."
    )
    biou_band: float = Field(0.02, gt=0.0, le=0.2, description="Boundary IoU band, fraction of the image diagonal.")
    edge_side: int = Field(
        320, ge=32, le=4096, description="Longer side (px) of the crop the edge-alignment signal is computed on."
    )
    edge_search_px: float = Field(
        4.0, gt=0.0, le=32.0, description="Edge alignment: look this far (px of the edge crop) inside/outside the outline."
    )
    chord_min_len: float = Field(
        0.15, gt=0.0, description="chord_rel: edges at least this x sqrt(area) long are checked for separating anything."
    )
    chord_support: float = Field(
        0.5, gt=0.0, description="chord_rel: an edge whose in/out colour difference is below this x the typical one counts."
    )
    min_area_px: float = Field(
        400.0, ge=0.0, description="Persons smaller than this (px) get no image signals (reason 'too_small')."
    )
    occluder_px: float = Field(
        4.0, ge=0.0, le=64.0,
        description="Outline within this many px of another annotation's mask (any category) runs along an occluder: "
        "no evidence of coarseness there (0: only the image border counts).",
    )

    @model_validator(mode="after")
    def _known_signals(self) -> "FlagParams":
        unknown = sorted((set(self.signals) | set(self.decisive)) - set(SIGNAL_NAMES))
        if unknown:
            raise ValueError(f"unknown signal(s) {unknown}; known: {list(SIGNAL_NAMES)}")
        if not any(r.weight > 0 for r in self.signals.values()):
            raise ValueError("at least one signal needs a weight > 0")
        return self
