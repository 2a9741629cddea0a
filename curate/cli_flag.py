"""``portraitkit flag``: score every person polygon of the curated splits for coarseness."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from portraitkit.cli_common import PARAMS_OPTION, from_params, info, load_command_params, progress

app = typer.Typer()


@app.command("flag")
def flag(
    curated: Path = typer.Option(..., "--curated", help="Curated folder: train/val/test.json (+ manifest.parquet)."),
    images: Path = typer.Option(..., "--images", help="Folder holding the photos by COCO file_name."),
    out: Path = typer.Option(..., "--out", help="Output folder: flags.parquet, images.parquet, summary.json."),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Flag when coarseness >= this. " + from_params("flag.threshold")),
    workers: Optional[int] = typer.Option(None, "--workers", help="Processes, parallel over images. " + from_params("flag.workers")),
    params_file: Path = PARAMS_OPTION,
) -> None:
    """Score every non-crowd person annotation for polygon coarseness and flag the worst."""
    from portraitkit.curate.coarseness.stage import run_flag
    from portraitkit.params import override

    params = load_command_params(params_file)
    fp = override(params.flag, "flag", threshold=threshold, workers=workers)
    summary = run_flag(curated, images, out, fp, person_category_id=params.curate.person_category_id,
                       progress=progress)
    info(
        f"flag: {summary['persons']} persons in {summary['images']} images, {summary['flagged']} flagged "
        f"({100 * summary['fraction_flagged']:.1f} %, threshold {summary['threshold']:g}); "
        f"{summary['persons_without_image_signals']} without image signals -> {out}"
    )
    for warning in summary.get("warnings", []):
        info(f"warning: {warning}")
