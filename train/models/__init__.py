"""The model registry: every architecture by name, built from (in_channels, width, config).

Contract (see docs/CONVENTIONS.md): ``forward(x)`` takes float32 N x C x H x W, RGB in [0, 1]
followed (C = 5) by the positive and negative click maps in [0, 1], and returns N x 1 x H x W
logits at the input resolution, bounded to +-``LOGIT_BOUND``. Static shapes, mobile ops only.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from portraitkit.errors import UserError
from portraitkit.train.models import enet, portrait_unet, squeezenet_sharpmask
from portraitkit.train.models.blocks import LOGIT_BOUND, fold_batchnorm

ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "portrait_unet": portrait_unet.build,
    "squeezenet_sharpmask": squeezenet_sharpmask.build,
    "enet": enet.build,
}

# The side of every input must be a multiple of this (the deepest stride).
SIZE_MULTIPLE = {"portrait_unet": 32, "squeezenet_sharpmask": 16, "enet": 8}

__all__ = ["ARCHITECTURES", "SIZE_MULTIPLE", "LOGIT_BOUND", "build_model", "count_params_macs", "fold_batchnorm"]


def build_model(arch: str, in_channels: int = 3, width: float = 1.0, **config) -> nn.Module:
    if arch not in ARCHITECTURES:
        raise UserError(f"unknown architecture {arch!r} (choose from {', '.join(ARCHITECTURES)})")
    if in_channels not in (3, 5):
        raise UserError(f"{arch}: in_channels must be 3 (automatic) or 5 (RGB + click maps), got {in_channels}")
    if width <= 0:
        raise UserError(f"{arch}: width must be > 0, got {width}")
    return ARCHITECTURES[arch](in_channels=in_channels, width=width, **config)


def count_params_macs(model: nn.Module, in_channels: int, size: int) -> tuple[int, int]:
    """(parameters, multiply-accumulates of one 1 x C x size x size forward), by torch's own counters.

    MACs = FLOPs / 2 as counted by ``torch.utils.flop_counter.FlopCounterMode`` (convolutions and
    matmuls; elementwise ops are not counted, as usual for MACs).
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    n_params = sum(p.numel() for p in model.parameters())
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros(1, in_channels, size, size))
    model.train(was_training)
    return int(n_params), int(counter.get_total_flops() // 2)
