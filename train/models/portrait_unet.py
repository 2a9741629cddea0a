"""``portrait_unet``: the Prisma portrait U-Net, built for full-resolution speed on a phone CPU.

- Base block: a residual block of two depthwise-separable convolutions (``ResidualDS``).
- Skips merged by element-wise addition (no concatenation: no channel growth, no Concat op).
- Asymmetric: the decoder has more residual blocks than the encoder.
- Ops: conv, transposed conv, ReLU, add, and the bounded head (tanh; see ``blocks.LOGIT_BOUND``);
  BatchNorm is folded into the convs for export (``blocks.fold_batchnorm``).
- Cheap at full resolution: a stride-2 stem, the highest-resolution stages narrow (8 / 16
  channels at width 1.0), capacity at H/16 and H/32. Input sides must be multiples of 32.
"""

from __future__ import annotations

import torch
from torch import nn

from portraitkit.train.models.blocks import BoundedLogits, ResidualDS, UpTransposed, ch, conv_bn, dw_separable

# Channels per resolution H/2, H/4, H/8, H/16, H/32 at width 1.0.
CHANNELS = (8, 16, 32, 64, 128)
ENCODER_BLOCKS = (0, 1, 1, 2, 2)  # residual blocks after the downsampling at H/2 .. H/32
DECODER_BLOCKS = (1, 2, 2, 3)  # residual blocks after each skip merge at H/2, H/4, H/8, H/16


class PortraitUNet(nn.Module):
    def __init__(self, in_channels: int = 3, width: float = 1.0,
                 channels: tuple[int, ...] = CHANNELS, encoder_blocks: tuple[int, ...] = ENCODER_BLOCKS,
                 decoder_blocks: tuple[int, ...] = DECODER_BLOCKS):
        super().__init__()
        c = [ch(x, width) for x in channels]
        self.stem = conv_bn(in_channels, c[0], 3, stride=2)  # H/2
        self.encoder = nn.ModuleList()
        for i in range(len(c)):
            layers: list[nn.Module] = []
            if i > 0:
                layers.append(dw_separable(c[i - 1], c[i], stride=2))
            layers += [ResidualDS(c[i]) for _ in range(encoder_blocks[i])]
            self.encoder.append(nn.Sequential(*layers))
        self.ups = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for i in reversed(range(len(c) - 1)):  # H/16 .. H/2
            self.ups.append(UpTransposed(c[i + 1], c[i]))
            self.decoder.append(nn.Sequential(*[ResidualDS(c[i]) for _ in range(decoder_blocks[i])]))
        # Full resolution: one transposed conv to a narrow map, then the 1-channel logit conv.
        self.final_up = UpTransposed(c[0], c[0])
        self.head = nn.Conv2d(c[0], 1, 3, padding=1)
        self.bound = BoundedLogits()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = []
        h = self.stem(x)
        for stage in self.encoder:
            h = stage(h)
            feats.append(h)
        h = feats[-1]
        for up, dec, skip in zip(self.ups, self.decoder, reversed(feats[:-1])):
            h = dec(up(h) + skip)
        return self.bound(self.head(self.final_up(h)))


def build(in_channels: int = 3, width: float = 1.0, **config) -> nn.Module:
    return PortraitUNet(in_channels=in_channels, width=width, **config)
