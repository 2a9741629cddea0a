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
    steps: int = Field(200, ge=1, description="Optimisation steps (the whole budget).")
    lr: float = Field(2e-3, gt=0.0, le=1.0, description="Peak AdamW learning rate.")
    weight_decay: float = Field(1e-4, ge=0.0, le=1.0, description="AdamW weight decay.")
    warmup_steps: int = Field(10, ge=0, description="Linear warm-up steps before the cosine decay.")
    dice_weight: float = Field(1.0, ge=0.0, description="Loss = BCE + this x soft Dice (both ignore pixels 255).")
    flip: bool = Field(True, description="Random horizontal flips of the training images.")
    device: str = execution_field("auto", description="Torch device: auto (CUDA when present), cpu, cuda.")
    threads: int = execution_field(1, ge=1, description="CPU threads of torch.")
