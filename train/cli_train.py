"""``portraitkit train``: fit a person segmenter from scratch on a curated dataset."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from portraitkit.cli_common import PARAMS_OPTION, from_params, info

app = typer.Typer()


class ArchChoice(str, Enum):
    portrait_unet = "portrait_unet"
    squeezenet_sharpmask = "squeezenet_sharpmask"
    enet = "enet"


class DeviceChoice(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


@app.command("train")
def train(
    curated: Path = typer.Option(..., "--curated", help="The curate stage's --out folder (train/val.json, masks/)."),
    images: Path = typer.Option(..., "--images", help="Folder of the photos, by COCO file_name."),
    out: Path = typer.Option(..., "--out", help="Output folder (replaced as a whole): model.pt, metrics.json."),
    clicks: Optional[Path] = typer.Option(
        None, "--clicks", help="Interactive models: the clicks stage's --out folder (clicks.parquet)."
    ),
    arch: Optional[ArchChoice] = typer.Option(None, "--arch", help="Architecture. " + from_params("train.arch")),
    interactive: Optional[bool] = typer.Option(
        None, "--interactive/--automatic", help="Click-map (5-channel) model. " + from_params("train.interactive")
    ),
    steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Step budget. " + from_params("train.steps")),
    device: Optional[DeviceChoice] = typer.Option(
        None, "--device", help="Torch device. " + from_params("train.device")
    ),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads. " + from_params("train.threads")),
    params_file: Path = PARAMS_OPTION,
) -> None:
    """Train a segmenter from scratch on curate's train split; score IoU on val; write model.pt.

    Letterboxed inputs (padding ignored), BCE + soft Dice, AdamW with warm-up and cosine decay.
    The checkpoint records its dataset fingerprint, so evaluate can tell the dataset versions apart.
    """
    from portraitkit.cli_common import load_command_params
    from portraitkit.params import override
    from portraitkit.train.training import train as run_train

    params = load_command_params(params_file)
    params.train = override(
        params.train,
        "train",
        arch=arch.value if arch else None,
        interactive=interactive,
        steps=steps,
        device=device.value if device else None,
        threads=threads,
    )
    m = run_train(curated, images, out, params, clicks=clicks)
    val = "n/a (empty val split)" if m["val_iou"] is None else f"{m['val_iou']:.4f}"
    info(
        f"train {m['arch']}: {m['steps']} steps on {m['n_train']} images, loss {m['first_loss']:.4f} -> "
        f"{m['final_loss']:.4f}, val IoU {val} ({m['n_val']} images), {m['seconds_per_step']:.3f} s/step -> {out}"
    )
