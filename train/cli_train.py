"""``portraitkit train``: fit a person segmenter from scratch on a curated dataset."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional, get_args

import typer

from portraitkit.cli_common import PARAMS_OPTION, from_params, info
from portraitkit.params.train import TrainParams

app = typer.Typer()

# The model registry's names (train.models.ARCHITECTURES), read through TrainParams.arch, whose Literal
# a test holds equal to the registry: importing the registry itself imports torch, which would add
# seconds to every `portraitkit` command.
ArchChoice = Enum("ArchChoice", {name: name for name in get_args(TrainParams.model_fields["arch"].annotation)}, type=str)
CoarseChoice = Enum(
    "CoarseChoice", {name: name for name in get_args(TrainParams.model_fields["coarse_policy"].annotation)}, type=str
)


class DeviceChoice(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


@app.command("train")
def train(
    curated: Path = typer.Option(..., "--curated", help="The curate stage's --out folder (train/val.json, masks/)."),
    images: Path = typer.Option(..., "--images", help="Folder of the photos, by COCO file_name."),
    out: Path = typer.Option(..., "--out", help="Output folder (replaced as a whole): model.pt, metrics.json, timing.json, dvclive/."),
    clicks: Optional[Path] = typer.Option(
        None, "--clicks", help="Interactive models: the clicks stage's --out folder (clicks.parquet)."
    ),
    flags: Optional[Path] = typer.Option(
        None, "--flags", help="The flag stage's --out folder (flags.parquet): feeds train.coarse_policy."
    ),
    augmented: Optional[Path] = typer.Option(
        None, "--augmented", help="The augment stage's --out folder: also train on its variants of the train images."
    ),
    coarse_policy: Optional[CoarseChoice] = typer.Option(
        None, "--coarse-policy", help="Flagged persons: keep, drop their images, ignore_band. " + from_params("train.coarse_policy")
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue an interrupted run from --out/last.pt (same params and inputs; same result)."
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
    progress: Optional[bool] = typer.Option(
        None, "--progress/--no-progress", help="Progress bar with loss and ETA. " + from_params("train.progress")
    ),
    params_file: Path = PARAMS_OPTION,
) -> None:
    """Train a segmenter from scratch on curate's train split; keep the best by val IoU as model.pt.

    Letterboxed inputs (padding and augment's 255 ignored), BCE + soft Dice, AdamW with warm-up and
    cosine decay, dvclive curves in --out/dvclive. The checkpoint records its dataset fingerprint, so
    evaluate can tell the dataset versions apart. Scale out with
    `torchrun --nproc-per-node N -m portraitkit train ...` (DDP; rank 0 writes).
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
        progress=progress,
        coarse_policy=coarse_policy.value if coarse_policy else None,
    )
    m = run_train(curated, images, out, params, clicks=clicks, flags=flags, augmented=augmented, resume=resume)
    if not m:  # a torchrun rank other than 0: rank 0 reports
        return
    val = "n/a (empty val split)" if m["val_iou"] is None else f"{m['val_iou']:.4f} at step {m['best_step']}"
    info(
        f"train {m['arch']}: {m['steps']} steps on {m['n_train']} samples, loss {m['first_loss']:.4f} -> "
        f"{m['final_loss']:.4f}, best val IoU {val} ({m['n_val']} val samples), {m['seconds_per_step']:.3f} s/step "
        f"({m['device']}, {m['world_size']} process(es)) -> {out}"
    )
