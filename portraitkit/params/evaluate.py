"""Params of the ``evaluate`` section: how ``portraitkit evaluate`` scores a model file.

The click rule, the click budget and the NoC thresholds of interactive models are the clicks
section's (``clicks.next_click_rule``, ``clicks.max_clicks``, ``clicks.noc_thresholds``), so NoC
means the same thing in the GrabCut benchmark, in iterative training and here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portraitkit.params.base import Section, execution_field


class EvaluateParams(Section):
    split: Literal["train", "val", "test"] = Field("test", description="Curated split to score.")
    threshold: float = Field(0.5, gt=0.0, lt=1.0, description="Person where the model's probability >= this.")
    biou_band: float = Field(
        0.02, gt=0.0, le=0.5, description="Boundary IoU band (Cheng et al. 2021): fraction of the image diagonal."
    )
    interactive_clicks: int = Field(
        3,
        ge=1,
        description="Interactive models: iou / miou / boundary_iou and the predictions/ masks are those after this "
        "many error-driven clicks on every person of the image.",
    )
    noc_min_area: int = Field(
        400, ge=0, description="Interactive models: persons smaller than this (px) are clicked but left out of NoC."
    )
    grabcut_baseline: bool = Field(
        True, description="Interactive models: run the GrabCut baseline on the same persons with the same click rule."
    )
    device: str = execution_field("auto", description="Torch device for .pt models: auto (CUDA when present), cpu, cuda.")
    threads: int = execution_field(1, ge=1, description="CPU threads of torch / onnxruntime / the LiteRT interpreter.")
