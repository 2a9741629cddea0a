"""``portraitkit augment``: realistic augmented variants of every curated train image."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from portraitkit.cli_common import PARAMS_OPTION, from_params, info, load_command_params

app = typer.Typer()


@app.command("augment")
def augment(
    curated: Path = typer.Option(..., "--curated", help="Curated folder: train.json (+ masks/<image_id>.png)."),
    images: Path = typer.Option(..., "--images", help="Folder holding the photos by COCO file_name."),
    out: Path = typer.Option(..., "--out", help="Output folder: images/, masks/, variants.parquet, preview.png, ..."),
    clicks: Optional[Path] = typer.Option(None, "--clicks", help="Folder with clicks.parquet: clicks move with the geometry."),
    variants: Optional[int] = typer.Option(None, "--variants", help="Variants per train image. " + from_params("augment.variants")),
    workers: Optional[int] = typer.Option(None, "--workers", help="Processes, parallel over images. " + from_params("augment.workers")),
    params_file: Path = PARAMS_OPTION,
) -> None:
    """Write N realistic augmented variants (image, mask, moved clicks, replayable transforms) per train image."""
    from portraitkit.augment.stage import run_augment
    from portraitkit.params import override

    params = load_command_params(params_file)
    ap = override(params.augment, "augment", variants=variants, workers=workers)
    s = run_augment(curated, images, out, ap, seed=params.seed, clicks=clicks,
                    person_category_id=params.curate.person_category_id)
    c = s["clicks"]
    info(
        f"augment: {s['variants_written']} variants of {s['images_augmented']} images "
        f"({s['images_skipped']} skipped, {s['variants_dropped_unrealistic']} variants unrealistic, "
        f"{s['realism_redraws']} redraws)"
        + (f"; clicks kept {c['kept']}/{c['in']} ({c['dropped_outside']} left the frame, "
           f"{c['dropped_wrong_side']} wrong side)" if c["given"] else "")
        + f" -> {out}"
    )
