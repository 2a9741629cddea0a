"""Params of the ``export`` section: conversion to ONNX / TFLite / Core ML and the device checks."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field

from portraitkit.params.base import Section, execution_field


# One per train/targets/<name>.yaml (tests/test_export.py checks that both lists agree).
TargetName = Literal["android-cpu", "android-cpu-fp32", "android-cpu-w8", "android-gpu", "ios-ane", "ios-ane-w8", "onnx-cpu"]
TARGET_NAMES: tuple[str, ...] = get_args(TargetName)


class ExportParams(Section):
    targets: list[TargetName] = Field(
        ["android-cpu", "android-cpu-fp32", "android-cpu-w8", "android-gpu", "ios-ane", "ios-ane-w8", "onnx-cpu"],
        description="Device targets checked (train/targets/<name>.yaml).",
    )
    calibration_images: int = Field(32, ge=1, description="Train images that calibrate the int8 activation ranges.")
    parity_images: int = Field(20, ge=1, description="Val images the exports are compared with the PyTorch model on.")
    threshold: float = Field(0.5, gt=0, lt=1, description="Probability threshold of the masks compared by IoU.")
    int8_recipe: str = Field("static_wi8_ai8", description="ai-edge-quantizer recipe of model_int8.tflite (full-integer static).")
    int8_logit_limit: float = Field(
        32.0, gt=0,
        description="Guard: calibration logits beyond +-this get clamped to +-int8_logit_clamp in the int8 file "
        "(a huge logit range rounds every positive logit to zero under int8).",
    )
    int8_logit_clamp: float = Field(12.0, gt=0, description="Clamp of the int8 file's logits when the guard fires.")
    coreml_weight_threshold: int = Field(
        64, ge=1, description="linear_quantize_weights: weights with at least this many elements get 8 bits "
        "(coremltools' default 2048 leaves small depthwise weights in fp16).",
    )
    latency_runs: int = Field(50, ge=5, description="Timed runs per latency (median and p90), after warm-up.")
    latency_warmup: int = Field(5, ge=0)
    threads: int = execution_field(1, ge=1, description="Runtime threads for the latency checks (one phone core: 1).")
