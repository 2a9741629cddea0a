"""``portraitkit curate``: keep the portrait-like images of a COCO file and split them."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from portraitkit.cli_common import PARAMS_OPTION, from_params, info, load_command_params
from portraitkit.params import override
from portraitkit.params.curate import Policy

app = typer.Typer()


@app.command("curate")
def curate_command(
    annotations: Path = typer.Option(..., "--annotations", help="COCO instances JSON (e.g. instances_train2017.json)."),
    out: Path = typer.Option(..., "--out", help="Output folder (replaced atomically)."),
    keypoints: Optional[Path] = typer.Option(
        None, "--keypoints", help="COCO person_keypoints JSON: enables the body-part rule (num_keypoints 0)."
    ),
    reviews: Optional[Path] = typer.Option(
        None, "--reviews", help="Review decisions CSV (image_id,decision,note), as written by 'review pull'."
    ),
    images: Optional[Path] = typer.Option(
        None, "--images", help="Images folder: images whose file is missing are quarantined as invalid."
    ),
    masks: bool = typer.Option(False, "--masks", help="Write masks/<image_id>.png (0/255) for kept images."),
    min_persons: Optional[int] = typer.Option(None, help=from_params("curate.min_persons")),
    max_persons: Optional[int] = typer.Option(None, help=from_params("curate.max_persons")),
    min_coverage: Optional[float] = typer.Option(None, help=from_params("curate.min_coverage")),
    max_coverage: Optional[float] = typer.Option(None, help=from_params("curate.max_coverage")),
    body_part_policy: Optional[Policy] = typer.Option(
        None, help="Persons without keypoints (body parts). " + from_params("curate.body_part_policy")
    ),
    held_object_policy: Optional[Policy] = typer.Option(
        None, help="Persons touching a held object. " + from_params("curate.held_object_policy")
    ),
    seed: Optional[int] = typer.Option(None, help="Split seed " + from_params("seed")),
    workers: Optional[int] = typer.Option(None, help="Processes; outputs never depend on it " + from_params("curate.workers")),
    params_file: Optional[Path] = PARAMS_OPTION,
) -> None:
    """Keep images with few persons covering enough of the frame; split train/val/test; write the funnel.

    Every image of the source file gets a manifest row with the reason it was dropped (the
    first failing rule) or kept. The person count, coverage range and split fractions are
    curate.* in params.yaml. Same inputs and params give byte-identical outputs.
    """
    from portraitkit.curate.stage import run_curate, summary_line

    all_params = load_command_params(params_file)
    params = override(
        all_params.curate,
        "curate",
        min_persons=min_persons,
        max_persons=max_persons,
        min_coverage=min_coverage,
        max_coverage=max_coverage,
        body_part_policy=body_part_policy,
        held_object_policy=held_object_policy,
        workers=workers,
    )
    result = run_curate(
        annotations,
        out,
        params,
        seed=all_params.seed if seed is None else seed,
        keypoints=keypoints,
        reviews=reviews,
        images_dir=images,
        write_masks=masks,
    )
    info(summary_line(result))
    for warning in result.warnings:
        info(warning)
    if result.unknown_review_ids:
        shown = ", ".join(map(str, result.unknown_review_ids[:10]))
        info(
            f"warning: {reviews}: {len(result.unknown_review_ids)} decision(s) name images not in "
            f"{annotations} (ignored, listed in identity.json): {shown}"
        )
