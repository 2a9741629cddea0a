"""Shared data and tiny models of the evaluate tests: the real demo-data and curate stages' output,
and hand-made torch segmenters whose answers can be checked."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from portraitkit.params import Params


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """demo-data + curate (with masks), 40 photos: the stage outputs evaluate reads."""
    from portraitkit.curate.demo import generate
    from portraitkit.curate.stage import run_curate

    root = tmp_path_factory.mktemp("evaluate_demo")
    params = Params()
    generate(root / "demo", 40, params.demo.seed, params.demo)
    run_curate(
        root / "demo" / "annotations" / "instances.json",
        root / "curated",
        params.curate.model_copy(update={"workers": 1}),
        seed=params.seed,
        images_dir=root / "demo" / "images",
        write_masks=True,
    )
    return root


def params(split="train") -> Params:
    p = Params()
    p.evaluate = p.evaluate.model_copy(update={"split": split, "device": "cpu"})
    return p


class RedLogit(torch.nn.Module):
    """Logit of 'this pixel is reddish': a fixed, hand-made segmenter for NCHW 0-1 input."""

    def forward(self, x):
        r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
        return 12.0 * (r - 0.5 * (g + b) - 0.1)


class RedForeign(torch.nn.Module):
    """The same function as a third-party file would ship it: NHWC, ImageNet-normalised input,
    two output channels (background, person) of probabilities, NHWC."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 1, 1, 3))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 1, 1, 3))

    def forward(self, x):
        rgb = x * self.std + self.mean
        logit = RedLogit()(rgb.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        p = torch.sigmoid(logit)
        return torch.cat([1.0 - p, p], dim=3)


class Constant(torch.nn.Module):
    def forward(self, x):
        return torch.relu(x[:, 0:1]) + 9.0  # > 0 everywhere: every pixel is a person


def export_onnx(module, path: Path, shape) -> Path:
    torch.onnx.export(module.eval(), (torch.zeros(*shape),), str(path), input_names=["x"], output_names=["y"], dynamo=False)
    return path
