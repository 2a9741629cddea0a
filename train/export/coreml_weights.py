"""The weights stored in a Core ML package, loaded back into the PyTorch model.

Core ML's ``predict()`` runs only on macOS, but the package's weights can be read anywhere: its MIL
program holds one (possibly 8-bit, dequantising) constant per conv / transposed conv. Put back into
the PyTorch model, they give the error the stored weights alone cause (fp16 rounding, 8-bit
quantisation), measured on any system; Core ML's fp16 arithmetic still needs macOS.

coremltools fuses a constant scale that follows a conv into the conv (our bounded head's
``x * 1/8``), so a stored weight is the torch weight times one scalar per conv: that scalar is fitted
against the torch weight and checked to explain it to fp16 precision, else the mapping is refused.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

CONV_OPS = ("conv", "conv_transpose")
MAX_FIT_RESIDUAL = 0.02  # relative; fp16 rounding is ~1e-3, 8-bit per-channel ~1e-2


class WeightMappingError(ValueError):
    """The package's convs cannot be matched one to one with the torch model's."""


def _value(var) -> np.ndarray:
    if var.val is not None:
        return np.asarray(var.val, np.float32)
    # constexpr_affine_dequantize / constexpr_lut_to_dense / ...: the dequantised weight
    return np.asarray(var.op.materialized_val_inference(), np.float32)


def _walk(block):
    for op in block.operations:
        yield op
        for inner in op.blocks:
            yield from _walk(inner)


def stored_conv_weights(path: Path) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(weight, bias) of every conv / transposed conv of the package's main function, in program order."""
    import coremltools as ct
    from coremltools.converters.mil.frontend.milproto.load import load as load_milproto

    logging.getLogger("coremltools").setLevel(logging.ERROR)
    ml = ct.models.MLModel(str(path), skip_model_load=True)
    spec = ml.get_spec()
    program = load_milproto(spec, specification_version=spec.specificationVersion, file_weights_dir=ml.weights_dir)
    out = []
    for op in _walk(program.functions["main"]):
        if op.op_type in CONV_OPS:
            bias = op.inputs.get("bias")
            out.append((_value(op.inputs["weight"]), None if bias is None else _value(bias)))
    return out


def convs_in_call_order(model: nn.Module, sample: tuple[torch.Tensor, ...]) -> list[nn.Module]:
    """The model's (transposed) convs in the order one forward pass calls them (the MIL program's order)."""
    order: list[nn.Module] = []
    hooks = [m.register_forward_hook(lambda m, i, o: order.append(m))
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    try:
        with torch.inference_mode():
            model(*sample)
    finally:
        for h in hooks:
            h.remove()
    return order


def _fused_scale(stored: np.ndarray, torch_weight: np.ndarray) -> tuple[float, float]:
    """s with torch_weight ~ s * stored (least squares), and the relative residual of that fit."""
    denom = float((stored * stored).sum())
    if denom == 0.0:
        return 1.0, 0.0 if not torch_weight.any() else 1.0
    s = float((stored * torch_weight).sum()) / denom
    residual = float(np.linalg.norm(torch_weight - s * stored) / max(np.linalg.norm(torch_weight), 1e-12))
    return s, residual


def with_stored_weights(model: nn.Module, path: Path, sample: tuple[torch.Tensor, ...]) -> nn.Module:
    """A copy of ``model`` (as exported: BatchNorm folded) whose convs hold the package's stored weights.

    Raises ``WeightMappingError`` when the package's convs do not map one to one onto the model's.
    """
    model = copy.deepcopy(model).eval()
    convs = convs_in_call_order(model, sample)
    stored = stored_conv_weights(path)
    if len(stored) != len(convs):
        raise WeightMappingError(f"{len(stored)} convs in the package, {len(convs)} in the model")
    for i, (module, (weight, bias)) in enumerate(zip(convs, stored)):
        w = module.weight.detach().float().numpy()
        if weight.shape != w.shape:
            raise WeightMappingError(f"conv {i}: stored weight {weight.shape} vs the model's {w.shape}")
        s, residual = _fused_scale(weight, w)
        if residual > MAX_FIT_RESIDUAL:
            raise WeightMappingError(f"conv {i}: stored weight is no scaled copy of the model's (residual {residual:.3f})")
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(s * weight))
            if module.bias is not None and bias is not None:
                module.bias.copy_(torch.from_numpy(s * bias.reshape(module.bias.shape)))
    return model
