"""``portraitkit evaluate``: score a model file (.pt, .onnx, .tflite) on a curated split."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from portraitkit.cli_common import PARAMS_OPTION, from_params, info

app = typer.Typer()


class LayoutChoice(str, Enum):
    nchw = "nchw"
    nhwc = "nhwc"


class NormalizeChoice(str, Enum):
    zero_one = "0-1"
    minus_one_one = "-1-1"
    imagenet = "imagenet"


class ResizeChoice(str, Enum):
    letterbox = "letterbox"
    stretch = "stretch"


class OutputChoice(str, Enum):
    logits = "logits"
    probabilities = "probabilities"


class SplitChoice(str, Enum):
    train = "train"
    val = "val"
    test = "test"


_FOREIGN = "For a file that is not a portraitkit checkpoint: "


@app.command("evaluate")
def evaluate(
    model: Path = typer.Option(..., "--model", help="Model file: a portraitkit .pt checkpoint, an .onnx or a .tflite file."),
    curated: Path = typer.Option(..., "--curated", help="The curate stage's --out folder (<split>.json, masks/)."),
    images: Path = typer.Option(..., "--images", help="Folder of the photos, by COCO file_name."),
    out: Path = typer.Option(
        ..., "--out", help="Output folder (replaced as a whole): metrics.json, per_image.parquet, predictions/."
    ),
    split: Optional[SplitChoice] = typer.Option(None, "--split", help="Split to score. " + from_params("evaluate.split")),
    input_size: Optional[int] = typer.Option(
        None, "--input-size", min=8, help=_FOREIGN + "square input side in pixels [default: the file's input shape]."
    ),
    layout: Optional[LayoutChoice] = typer.Option(
        None, "--layout", help=_FOREIGN + "tensor layout [default: the file's input shape, else nchw]."
    ),
    normalize: Optional[NormalizeChoice] = typer.Option(
        None, "--normalize", help=_FOREIGN + "pixel scaling: 0-1, -1-1 or ImageNet mean/std (required)."
    ),
    resize: Optional[ResizeChoice] = typer.Option(
        None, "--resize", help=_FOREIGN + "letterbox (keep aspect, pad) or stretch [default: letterbox]."
    ),
    output_channel: Optional[int] = typer.Option(
        None, "--output-channel", min=0, help=_FOREIGN + "channel of the output holding the person [default: 0]."
    ),
    output: Optional[OutputChoice] = typer.Option(
        None, "--output", help=_FOREIGN + "whether that channel holds logits or probabilities (required)."
    ),
    spec_from: Optional[Path] = typer.Option(
        None,
        "--spec-from",
        help="Take the input spec from this portraitkit checkpoint (.pt) or spec JSON (an export of it). "
        "An export.json beside --model is read too.",
    ),
    threshold: Optional[float] = typer.Option(
        None, "--threshold", help="Person where probability >= this. " + from_params("evaluate.threshold")
    ),
    device: Optional[str] = typer.Option(
        None, "--device", help="Torch device for .pt: auto, cpu, cuda. " + from_params("evaluate.device")
    ),
    threads: Optional[int] = typer.Option(
        None, "--threads", min=1, help="CPU threads. " + from_params("evaluate.threads")
    ),
    params_file: Path = PARAMS_OPTION,
) -> None:
    """Score a segmenter on a curated split at each photo's own resolution.

    Person IoU, background IoU, their mean (mIoU) and Boundary IoU per image; interactive models
    also NoC@85/90 with the error-driven clicker, beside the GrabCut baseline. Our checkpoints
    know their own input spec; for any other file state it with the options below.
    """
    from portraitkit.cli_common import load_command_params
    from portraitkit.params import override
    from portraitkit.train.evaluation.runners import open_runner
    from portraitkit.train.evaluation.stage import evaluate as run_evaluate

    params = load_command_params(params_file)
    params.evaluate = override(
        params.evaluate,
        "evaluate",
        split=split.value if split else None,
        threshold=threshold,
        device=device,
        threads=threads,
    )
    cli_spec = {
        "input_size": input_size,
        "layout": layout.value if layout else None,
        "normalize": normalize.value if normalize else None,
        "resize": resize.value if resize else None,
        "output_channel": output_channel,
        "output": output.value if output else None,
    }
    runner = open_runner(model, cli_spec, spec_from, device=params.evaluate.device, threads=params.evaluate.threads)
    result = run_evaluate(runner, curated, images, out, params)
    m = result.metrics
    line = (
        f"evaluate {model.name} on {m['split']} ({m['n_images']} images): IoU {m['iou']:.4f}, "
        f"mIoU (person + background) / 2 {m['miou']:.4f}, Boundary IoU {m['boundary_iou']:.4f}, "
        f"pooled IoU {m['iou_pooled']:.4f}"
    )
    if "noc90" in m:
        line += f"; NoC@85 {m['noc85']:.2f} ({m['noc85_failed']} failed), NoC@90 {m['noc90']:.2f} ({m['noc90_failed']} failed)"
        if "grabcut" in m:
            g = m["grabcut"]
            line += f"; GrabCut NoC@85 {g['noc85']:.2f}, NoC@90 {g['noc90']:.2f}"
    if m.get("dataset_match") is False:
        line += "; WARNING: the model was trained on another dataset version"
    info(line + f" -> {out}")
