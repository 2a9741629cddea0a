"""``squeezenet_sharpmask``: a SqueezeNet (1.1 layout) fire-module encoder with SharpMask refinement.

Encoder: stride-2 conv, then fire modules between stride-2 max-pools (H/4, H/8, H/16). Each 3x3
max-pool (``ZeroPadMaxPool``) takes post-ReLU features (>= 0), so a 1-pixel border of zeros gives the
same values as a padded max-pool's -inf border, without the PADV2 (-inf constant) that TFLite's
XNNPACK delegate does not run.
The coarse mask features at H/16 are refined top-down (Pinheiro et al. 2016): at each scale
a refinement module upsamples the top-down features x2 (bilinear, align_corners=False: a builtin
resize in TFLite, ONNX and Core ML), reduces the skip feature with a 3x3 conv, concatenates both
and mixes them with a 3x3 conv. Width 1.0 is SqueezeNet 1.1's channels halved (a ~0.2 M
parameter encoder, sized for CPU training); ``width=2.0`` is the original. Input sides must be
multiples of 16.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from portraitkit.train.models.blocks import BoundedLogits, ch, conv_bn


class Fire(nn.Module):
    def __init__(self, cin: int, squeeze: int, expand: int):
        super().__init__()
        self.squeeze = conv_bn(cin, squeeze, 1)
        self.e1 = conv_bn(squeeze, expand, 1)
        self.e3 = conv_bn(squeeze, expand, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.squeeze(x)
        return torch.cat([self.e1(s), self.e3(s)], dim=1)


class ZeroPadMaxPool(nn.Module):
    """= ``MaxPool2d(3, stride=2, padding=1)`` on non-negative inputs (ReLU outputs), with a zero border.

    The border is concatenated (rows, then columns of zeros) rather than padded: litert-torch's NHWC
    layout pass does not rewrite a constant pad here and wraps each in two TRANSPOSEs, while a
    CONCATENATION stays NHWC. A padded max-pool pads with -inf (PADV2: not run by XNNPACK).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        rows = x.new_zeros((n, c, 1, w))
        x = torch.cat([rows, x, rows], dim=2)
        cols = x.new_zeros((n, c, h + 2, 1))
        return F.max_pool2d(torch.cat([cols, x, cols], dim=3), 3, stride=2)


class Refine(nn.Module):
    """SharpMask refinement: upsample the top-down features x2, merge them with a reduced skip."""

    def __init__(self, skip_c: int, top_c: int, skip_k: int, out_c: int):
        super().__init__()
        self.skip = conv_bn(skip_c, skip_k, 3)
        self.top = conv_bn(top_c, top_c, 3)
        self.merge = conv_bn(top_c + skip_k, out_c, 3)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)

    def forward(self, top: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.merge(torch.cat([self.top(self.up(top)), self.skip(skip)], dim=1))


class SqueezeNetSharpMask(nn.Module):
    def __init__(self, in_channels: int = 3, width: float = 1.0):
        super().__init__()
        w = width * 0.5
        c1 = ch(64, w)
        self.conv1 = conv_bn(in_channels, c1, 3, stride=2)  # H/2
        self.pool = ZeroPadMaxPool()
        self.stage1 = nn.Sequential(Fire(c1, ch(16, w), ch(64, w)), Fire(2 * ch(64, w), ch(16, w), ch(64, w)))  # H/4
        self.stage2 = nn.Sequential(Fire(2 * ch(64, w), ch(32, w), ch(128, w)), Fire(2 * ch(128, w), ch(32, w), ch(128, w)))  # H/8
        self.stage3 = nn.Sequential(
            Fire(2 * ch(128, w), ch(48, w), ch(192, w)), Fire(2 * ch(192, w), ch(48, w), ch(192, w)),
            Fire(2 * ch(192, w), ch(64, w), ch(256, w)), Fire(2 * ch(256, w), ch(64, w), ch(256, w)),
        )  # H/16
        k = ch(32, width)  # refinement width
        self.coarse = conv_bn(2 * ch(256, w), k, 1)
        self.refine3 = Refine(2 * ch(128, w), k, ch(16, width), k)  # H/16 -> H/8
        self.refine2 = Refine(2 * ch(64, w), k, ch(16, width), ch(16, width))  # H/8 -> H/4
        self.refine1 = Refine(c1, ch(16, width), ch(8, width), ch(8, width))  # H/4 -> H/2
        self.final_up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.head = nn.Conv2d(ch(8, width), 1, 3, padding=1)
        self.bound = BoundedLogits()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1 = self.conv1(x)
        f2 = self.stage1(self.pool(f1))
        f3 = self.stage2(self.pool(f2))
        f4 = self.stage3(self.pool(f3))
        h = self.coarse(f4)
        h = self.refine3(h, f3)
        h = self.refine2(h, f2)
        h = self.refine1(h, f1)
        return self.bound(self.head(self.final_up(h)))


def build(in_channels: int = 3, width: float = 1.0, **config) -> nn.Module:
    return SqueezeNetSharpMask(in_channels=in_channels, width=width, **config)
