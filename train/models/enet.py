"""``enet``: ENet (Paszke et al. 2016): initial block, bottlenecks with asymmetric and dilated convs.

Replacements for mobile runtimes (and why):
- Max-unpooling + 1x1 conv (the decoder's main branch in the paper) -> one 2x2 stride-2
  transposed conv (+BN). MaxUnpool has no TFLite builtin, no Core ML / Neural Engine op, and needs
  the encoder's pooling indices as a tensor. Nearest x2 upsampling (RESIZE_NEAREST_NEIGHBOR) is not
  run by TFLite's XNNPACK delegate (phone CPU), and pixel shuffle (DEPTH_TO_SPACE) is outside the
  Neural Engine op list; TRANSPOSE_CONV / conv_transpose is run by XNNPACK, the GPU delegate and
  Core ML, quantises per channel, and contains 1x1 conv + nearest x2 as the case of four equal taps.
  The extension branch keeps the paper's transposed conv.
- The downsampling main branch's zero channel padding -> a 1x1 conv after the max-pool (no
  constant Concat/Pad, and static shapes for any channel count).
- PReLU -> ReLU (the op set every runtime and int8 kernel has); spatial dropout is training-only.
Width 1.0 is the paper's channels (16 / 64 / 128); ``stage3=False`` drops the repeated stage 3
for CPU-sized runs. Input sides must be multiples of 8.
"""

from __future__ import annotations

import torch
from torch import nn

from portraitkit.train.models.blocks import BoundedLogits, ch, conv_bn


class Initial(nn.Module):
    """3x3 stride-2 conv concatenated with a 2x2 max-pool of the input."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = conv_bn(in_channels, out_channels - in_channels, 3, stride=2, relu=False)
        self.pool = nn.MaxPool2d(2, 2)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(torch.cat([self.conv(x), self.pool(x)], dim=1))


class Bottleneck(nn.Module):
    """Regular / dilated / asymmetric bottleneck: 1x1 reduce, conv, 1x1 expand, + identity."""

    def __init__(self, c: int, kind: str = "regular", dilation: int = 1, dropout: float = 0.1):
        super().__init__()
        r = max(4, c // 4)
        if kind == "asymmetric":
            mid = nn.Sequential(conv_bn(r, r, kernel=(5, 1), relu=False), conv_bn(r, r, kernel=(1, 5)))
        else:
            mid = conv_bn(r, r, 3, dilation=dilation)
        self.branch = nn.Sequential(conv_bn(c, r, 1), mid, conv_bn(r, c, 1, relu=False), nn.Dropout2d(dropout))
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + self.branch(x))


class Down(nn.Module):
    """Downsampling bottleneck: main = max-pool + 1x1 conv, extension = 2x2 s2 conv, 3x3, 1x1."""

    def __init__(self, cin: int, cout: int, dropout: float = 0.1):
        super().__init__()
        r = max(4, cin // 4)
        self.main = nn.Sequential(nn.MaxPool2d(2, 2), conv_bn(cin, cout, 1, relu=False))
        self.branch = nn.Sequential(
            conv_bn(cin, r, 2, stride=2, padding=0), conv_bn(r, r, 3), conv_bn(r, cout, 1, relu=False), nn.Dropout2d(dropout)
        )
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.main(x) + self.branch(x))


class Up(nn.Module):
    """Upsampling bottleneck: main = 2x2 s2 transposed conv (for max-unpooling), extension = transposed conv."""

    def __init__(self, cin: int, cout: int, dropout: float = 0.1):
        super().__init__()
        r = max(4, cin // 4)
        # Sequential (conv, BN): fold_batchnorm folds the BN into the transposed conv.
        self.main = nn.Sequential(nn.ConvTranspose2d(cin, cout, 2, stride=2, bias=False), nn.BatchNorm2d(cout))
        self.reduce = conv_bn(cin, r, 1)
        self.up = nn.ConvTranspose2d(r, r, 2, stride=2, bias=False)
        self.branch = nn.Sequential(nn.BatchNorm2d(r), nn.ReLU(), conv_bn(r, cout, 1, relu=False), nn.Dropout2d(dropout))
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.main(x) + self.branch(self.up(self.reduce(x))))


def _stage23(c: int) -> list[nn.Module]:
    return [
        Bottleneck(c), Bottleneck(c, dilation=2), Bottleneck(c, "asymmetric"), Bottleneck(c, dilation=4),
        Bottleneck(c), Bottleneck(c, dilation=8), Bottleneck(c, "asymmetric"), Bottleneck(c, dilation=16),
    ]


class ENet(nn.Module):
    def __init__(self, in_channels: int = 3, width: float = 1.0, stage3: bool = True):
        super().__init__()
        c0, c1, c2 = ch(16, width, minimum=in_channels + 4), ch(64, width), ch(128, width)
        self.initial = Initial(in_channels, c0)  # H/2
        self.stage1 = nn.Sequential(Down(c0, c1, 0.01), *[Bottleneck(c1, dropout=0.01) for _ in range(4)])  # H/4
        layers = [Down(c1, c2), *_stage23(c2)]  # H/8
        if stage3:
            layers += _stage23(c2)
        self.stage23 = nn.Sequential(*layers)
        self.stage4 = nn.Sequential(Up(c2, c1), Bottleneck(c1), Bottleneck(c1))  # H/4
        self.stage5 = nn.Sequential(Up(c1, c0), Bottleneck(c0))  # H/2
        self.fullconv = nn.ConvTranspose2d(c0, 1, 2, stride=2)  # H
        self.bound = BoundedLogits()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stage5(self.stage4(self.stage23(self.stage1(self.initial(x)))))
        return self.bound(self.fullconv(h))


def build(in_channels: int = 3, width: float = 1.0, **config) -> nn.Module:
    return ENet(in_channels=in_channels, width=width, **config)
