"""Params of the ``train`` section: how ``portraitkit train`` fits a segmenter from scratch."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portraitkit.params.base import Section, execution_field


class TrainParams(Section):
    arch: Literal["portrait_unet", "squeezenet_sharpmask", "enet"] = Field(
        "portrait_unet", description="Architecture (train/models)."
    )
    width: float = Field(1.0, gt=0.0, le=4.0, description="Channel-width multiplier of the architecture.")
    interactive: bool = Field(False, description="Train with click maps (5 input channels; needs --clicks).")
    input_size: int = Field(128, ge=16, le=1024, description="Square letterboxed input side (multiple of the arch's stride).")
    batch_size: int = Field(8, ge=1, le=512, description="Images per optimisation step.")
    steps: int = Field(300, ge=1, description="Optimisation steps (the whole budget).")
    lr: float = Field(1e-2, gt=0.0, le=1.0, description="Peak AdamW learning rate.")
    weight_decay: float = Field(1e-4, ge=0.0, le=1.0, description="AdamW weight decay.")
    warmup_steps: int = Field(10, ge=0, description="Linear warm-up steps before the cosine decay.")
    dice_weight: float = Field(1.0, ge=0.0, description="Loss = BCE + this x soft Dice (both ignore pixels 255).")
    flip: bool = Field(True, description="Random horizontal flips of the training images.")
    val_every: int = Field(50, ge=0, description="Val IoU every this many steps (0: after the last only); model.pt = the best.")
    coarse_policy: Literal["keep", "drop", "ignore_band"] = Field(
        "keep", description="Flagged (coarse) persons, from --flags: keep them, drop their images, or ignore a band around their outline."
    )
    ignore_band_px: int = Field(3, ge=1, le=64, description="ignore_band: half-width of the band, in input (letterboxed) pixels.")
    iterative_share: float = Field(
        0.3, ge=0.0, le=1.0, description="Interactive: share of steps that first add error-driven clicks from the model's own prediction (RITM)."
    )
    iterative_max_clicks: int = Field(3, ge=1, le=20, description="Interactive: such a step adds 1 to this many clicks (uniform).")
    device: str = execution_field("auto", description="Torch device: auto (CUDA when present), cpu, cuda.")
    threads: int = execution_field(1, ge=1, description="CPU threads of torch.")
    amp: bool = execution_field(True, description="Mixed precision (autocast float16 + GradScaler) on CUDA; no effect on CPU.")
    checkpoint_every: int = execution_field(50, ge=0, description="Write the training state (--out/last.pt, for --resume) every this many steps (0: never).")
    progress: bool = execution_field(True, description="Progress bar with loss and ETA on a terminal.")
