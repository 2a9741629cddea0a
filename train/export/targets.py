"""Device targets: one YAML file per target in ``portraitkit.train.targets`` (or any folder given)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from portraitkit.errors import UserError

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "targets"

Runtime = Literal["litert", "litert-gpu", "coreml", "onnxruntime"]


class Target(BaseModel):
    """What a device needs from an exported file: format, precision, op set and budgets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    file: str = Field(description="Exported file this target checks (model_int8.tflite, model_fp16.mlpackage, ...).")
    precision: Literal["fp32", "fp16", "int8", "w8"]
    runtime: Runtime
    allowed_ops: list[str] | None = Field(None, description="Ops the device runs; None = any op of the format's default set.")
    max_size_mb: float | None = Field(None, gt=0)
    min_iou: float = Field(0.99, ge=0, le=1, description="IoU of thresholded masks vs the PyTorch model, at least.")
    latency_budget_ms: float | None = Field(None, gt=0, description="Median latency at the model's input size, at most.")
    io_dtype: str | None = Field(None, description="Core ML: every input and output has this array type.")
    min_specification_version: int | None = Field(None, description="Core ML: spec version at least (7 = iOS 16).")

    @property
    def format(self) -> str:
        return {"litert": "tflite", "litert-gpu": "tflite", "coreml": "coreml", "onnxruntime": "onnx"}[self.runtime]


def target_files(folder: Path = BUILTIN_DIR) -> dict[str, Path]:
    return {p.stem: p for p in sorted(Path(folder).glob("*.yaml"))}


def load_target(path: Path) -> Target:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"{path}: cannot read target ({str(exc).splitlines()[0]})") from None
    try:
        target = Target.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserError(f"{path}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from None
    if target.name != path.stem:
        raise UserError(f"{path}: name: {target.name!r} differs from the file name {path.stem!r}")
    return target


def load_targets(names: list[str] | None = None, folder: Path = BUILTIN_DIR) -> list[Target]:
    """The named targets (all in ``folder`` when ``names`` is None), in the order given."""
    files = target_files(folder)
    if names is None:
        names = list(files)
    unknown = [n for n in names if n not in files]
    if unknown:
        raise UserError(f"--targets: unknown target(s) {', '.join(unknown)} (known: {', '.join(files)})")
    return [load_target(files[n]) for n in names]
