"""Building blocks shared by the models: mobile-friendly ops only.

Every convolution is followed by BatchNorm while training; ``fold_batchnorm`` folds each BN into
the convolution before it, so an exported graph holds only conv / transposed conv / activation /
add (BN is no op of its own on a phone).
"""

from __future__ import annotations

import torch
from torch import nn

# Logits are bounded to +-LOGIT_BOUND by a scaled tanh in every head. An unbounded head can
# drift to logits spanning hundreds (a SqueezeNet head gave -846..+0.8), and full-int8
# quantisation of such a range rounds every positive logit to zero. tanh keeps a gradient
# everywhere (a clamp would stop teaching pixels stuck beyond the bound) and is a builtin op in
# TFLite (int8 too), ONNX and Core ML. +-8 is p = 0.9997 / 0.0003: nothing is lost for BCE.
LOGIT_BOUND = 8.0


class BoundedLogits(nn.Module):
    def __init__(self, bound: float = LOGIT_BOUND):
        super().__init__()
        self.bound = float(bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x * (1.0 / self.bound)) * self.bound


def ch(c: float, width: float, minimum: int = 4) -> int:
    """Channels scaled by the width multiplier, rounded to a multiple of 4 (vector-friendly)."""
    return max(minimum, int(round(c * width / 4.0)) * 4)


def conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1, dilation: int = 1,
            relu: bool = True, padding: tuple[int, int] | int | None = None, kernel: tuple[int, int] | None = None) -> nn.Sequential:
    kernel = kernel or (k, k)
    if padding is None:
        padding = (dilation * (kernel[0] - 1) // 2, dilation * (kernel[1] - 1) // 2)
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, groups=groups, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=False))
    return nn.Sequential(*layers)


def dw_separable(cin: int, cout: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    """Depthwise 3x3 (stride) then pointwise 1x1."""
    return nn.Sequential(
        conv_bn(cin, cin, 3, stride=stride, groups=cin, relu=False),
        conv_bn(cin, cout, 1, relu=relu),
    )


class ResidualDS(nn.Module):
    """Prisma's base block: two depthwise-separable convs and an additive identity skip."""

    def __init__(self, c: int):
        super().__init__()
        self.a = dw_separable(c, c, relu=True)
        self.b = dw_separable(c, c, relu=False)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + self.b(self.a(x)))


class UpTransposed(nn.Module):
    """x2 upsampling by a 2x2 stride-2 transposed conv (+BN, ReLU)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cout, 2, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.up(x)))


def _fuse_conv_transpose_bn(conv: nn.ConvTranspose2d, bn: nn.BatchNorm2d) -> nn.ConvTranspose2d:
    fused = nn.ConvTranspose2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                               conv.padding, conv.output_padding, conv.groups, True, conv.dilation)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    with torch.no_grad():
        # ConvTranspose2d weights are (in, out/groups, kh, kw): the output channel is dim 1.
        fused.weight.copy_(conv.weight * scale.view(1, -1, 1, 1))
        b = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        fused.bias.copy_((b - bn.running_mean) * scale + bn.bias)
    return fused


@torch.no_grad()
def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm into the (transposed) conv just before it, in place; eval mode only.

    Walks Sequentials (conv, bn) and modules with ``up``/``bn`` attribute pairs. Returns the model.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model.eval()
    for module in model.modules():
        if isinstance(module, nn.Sequential):
            names = list(module._modules)
            for a, b in zip(names, names[1:]):
                conv, bn = module._modules[a], module._modules[b]
                if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                    module._modules[a] = fuse_conv_bn_eval(conv, bn)
                    module._modules[b] = nn.Identity()
                elif isinstance(conv, nn.ConvTranspose2d) and isinstance(bn, nn.BatchNorm2d):
                    module._modules[a] = _fuse_conv_transpose_bn(conv, bn)
                    module._modules[b] = nn.Identity()
        if isinstance(module, UpTransposed) and isinstance(module.bn, nn.BatchNorm2d):
            module.up = _fuse_conv_transpose_bn(module.up, module.bn)
            module.bn = nn.Identity()
        # ENet's upsampling bottleneck: branch(up(x)) with the branch opening on a BatchNorm. Left as
        # MUL + ADD after the transposed conv, ai-edge-quantizer gives the MUL constant per-channel
        # scales on the wrong axis and LiteRT refuses the int8 file.
        branch = getattr(module, "branch", None)
        if (isinstance(getattr(module, "up", None), nn.ConvTranspose2d) and isinstance(branch, nn.Sequential)
                and len(branch) and isinstance(branch[0], nn.BatchNorm2d)):
            module.up = _fuse_conv_transpose_bn(module.up, branch[0])
            branch[0] = nn.Identity()
    return model
