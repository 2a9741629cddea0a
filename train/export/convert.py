"""Conversions of one trained torch model to the exported files.

- ONNX: ``torch.onnx.export(..., dynamo=True)`` (the torch.export-based exporter).
- TFLite: litert-torch, with NHWC inputs and output (``to_channel_last_io``) so the file has no
  layout transposes; int8 and weight-only int8 by ai-edge-quantizer on the fp32 file.
  Full-integer ``static_wi8_ai8`` is used for int8 because it quantises every op (PT2E leaves
  transposed convs in float, and dynamic-range int8 makes XNNPACK drop the hybrid depthwise convs
  out of its partition: several times slower than fp32). See bench/export_latency.py.
- Core ML: coremltools from ``torch.jit.trace`` (its recommended path): ML program, iOS 16, fp16
  compute and fp16 input/output; 8-bit weights by ``linear_quantize_weights``.
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

INPUT_NAMES = ("image", "positives", "negatives")
OUTPUT_NAME = "logits"


class LogitClamp(nn.Module):
    """Bounds a model's logits to +-bound: the int8 file's guard against a huge logit range."""

    def __init__(self, model: nn.Module, bound: float):
        super().__init__()
        self.model = model
        self.bound = float(bound)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self.model(*inputs), -self.bound, self.bound)


def prepare(model: nn.Module) -> nn.Module:
    """An eval-mode copy with BatchNorm folded into the convs (the models' own folding, when they have it)."""
    model = copy.deepcopy(model).eval()
    try:
        from portraitkit.train.models.blocks import fold_batchnorm
    except ImportError:  # a foreign model: converters fold eval-mode BN themselves
        return model
    return fold_batchnorm(model).eval()


def input_names(n_inputs: int) -> list[str]:
    return list(INPUT_NAMES[:n_inputs])


def to_nhwc(t: torch.Tensor | np.ndarray):
    return t.permute(0, 2, 3, 1).contiguous() if isinstance(t, torch.Tensor) else np.ascontiguousarray(t.transpose(0, 2, 3, 1))


# ----------------------------------------------------------------------------------- ONNX


def export_onnx(model: nn.Module, samples: Sequence[torch.Tensor], path: Path) -> None:
    import onnx

    # The exporter prints its progress through print(); keep the stage log readable.
    program = torch.onnx.export(
        model, tuple(samples), dynamo=True, input_names=input_names(len(samples)),
        output_names=[OUTPUT_NAME], verbose=False, report=False,
    )
    _drop_stack_traces(program.model)
    program.save(str(path))
    onnx.checker.check_model(str(path))


STACK_TRACE_KEY = "pkg.torch.onnx.stack_trace"


def _drop_stack_traces(model) -> None:
    """Drop the exporter's per-node Python stack traces from its ONNX IR model before it is saved: they
    hold the absolute paths of this checkout and its venv, so the same model exported from another
    folder gave other bytes."""
    from onnx_ir.traversal import RecursiveGraphIterator

    for graph in (model.graph, *model.functions.values()):
        for node in RecursiveGraphIterator(graph):
            node.metadata_props.pop(STACK_TRACE_KEY, None)


# --------------------------------------------------------------------------------- TFLite


def export_tflite_fp32(model: nn.Module, samples: Sequence[torch.Tensor], path: Path) -> None:
    import litert_torch

    n = len(samples)
    nhwc = litert_torch.to_channel_last_io(model, args=list(range(n)), outputs=[0]).eval()
    edge = litert_torch.convert(nhwc, tuple(to_nhwc(s) for s in samples))
    edge.export(str(path))


def _signature(fp32_path: Path) -> tuple[str, list[str]]:
    from ai_edge_litert.interpreter import Interpreter

    sigs = Interpreter(model_path=str(fp32_path)).get_signature_list()
    name = next(iter(sigs))
    return name, list(sigs[name]["inputs"])


def quantize_tflite(fp32_path: Path, out: Path, recipe_name: str,
                    calibration: Sequence[Sequence[np.ndarray]] | None = None) -> None:
    """ai-edge-quantizer ``recipe_name`` on ``fp32_path``; static recipes calibrate on NCHW ``calibration`` inputs."""
    from ai_edge_quantizer import quantizer, recipe

    build = getattr(recipe, recipe_name, None)
    if build is None:
        from portraitkit.errors import UserError

        raise UserError(f"export.int8_recipe: {recipe_name!r} is no ai-edge-quantizer recipe")
    q = quantizer.Quantizer(str(fp32_path), build())
    result = None
    if q.need_calibration:
        if not calibration:
            raise ValueError(f"{recipe_name} needs calibration data")
        sig, names = _signature(fp32_path)
        # litert-torch names the signature inputs args_0, args_1, ... in forward order
        data = [{name: to_nhwc(x).astype(np.float32) for name, x in zip(names, inputs)} for inputs in calibration]
        result = q.calibrate({sig: data}, num_threads=1)
    _quiet_absl()
    q.quantize(result, enable_progress_report=False).export_model(str(out), overwrite=True)


def _quiet_absl() -> None:
    logging.getLogger("absl").setLevel(logging.ERROR)


# -------------------------------------------------------------------------------- Core ML


def export_coreml(model: nn.Module, samples: Sequence[torch.Tensor], fp16_path: Path, w8_path: Path,
                  weight_threshold: int) -> None:
    import coremltools as ct
    import coremltools.optimize.coreml as cto

    logging.getLogger("coremltools").setLevel(logging.ERROR)
    with torch.no_grad():
        traced = torch.jit.trace(model, tuple(samples))
    inputs = [ct.TensorType(name=n, shape=tuple(s.shape), dtype=np.float16) for n, s in zip(input_names(len(samples)), samples)]
    ml = ct.convert(
        traced, inputs=inputs, outputs=[ct.TensorType(name=OUTPUT_NAME, dtype=np.float16)],
        convert_to="mlprogram", minimum_deployment_target=ct.target.iOS16,
        compute_precision=ct.precision.FLOAT16,
    )
    ml.save(str(fp16_path))
    config = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(
        mode="linear_symmetric", dtype="int8", granularity="per_channel",
        weight_threshold=weight_threshold - 1))  # coremltools quantises sizes *above* it; ours: from this size up
    cto.linear_quantize_weights(ml, config).save(str(w8_path))
    for package in (fp16_path, w8_path):
        _reproducible_mlpackage(package)


CONVERSION_DATE_KEY = "com.github.apple.coremltools.conversion_date"


def _reproducible_mlpackage(package: Path) -> None:
    """The same model gives the same package bytes on any day: coremltools stamps the conversion date
    into the spec, serialises its metadata map in no fixed order, and names the package's items by
    random UUIDs. Here the date is dropped, the spec serialised deterministically, and each item's
    UUID derived from its path (Core ML only needs them unique within the package)."""
    import json
    import uuid

    from coremltools.proto import Model_pb2

    manifest_path = package / "Manifest.json"
    manifest = json.loads(manifest_path.read_text())
    items = manifest["itemInfoEntries"]
    new_ids = {old: str(uuid.uuid5(uuid.NAMESPACE_URL, f"portraitkit-mlpackage:{entry['path']}"))
               for old, entry in items.items()}
    root = items[manifest["rootModelIdentifier"]]
    spec_path = package / "Data" / root["path"]
    spec = Model_pb2.Model()
    spec.ParseFromString(spec_path.read_bytes())
    spec.description.metadata.userDefined.pop(CONVERSION_DATE_KEY, None)
    spec_path.write_bytes(spec.SerializeToString(deterministic=True))
    manifest["itemInfoEntries"] = {new_ids[old]: entry for old, entry in items.items()}  # sort_keys orders them
    manifest["rootModelIdentifier"] = new_ids[manifest["rootModelIdentifier"]]
    manifest_path.write_text(json.dumps(manifest, indent=4, sort_keys=True) + "\n")


def coreml_predict(path: Path, inputs: Sequence[np.ndarray]) -> np.ndarray:
    """Core ML prediction (macOS only: on Linux coremltools raises "only supported on macOS")."""
    import coremltools as ct

    ml = ct.models.MLModel(str(path))
    feeds = {n: x.astype(np.float16) for n, x in zip(input_names(len(inputs)), inputs)}
    return np.asarray(ml.predict(feeds)[OUTPUT_NAME], np.float32)


def dir_size(path: Path) -> int:
    p = Path(path)
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
