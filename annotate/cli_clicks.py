"""``portraitkit clicks``: simulated click sets for every person instance of the curated data."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, get_args

import typer

from portraitkit.cli_common import PARAMS_OPTION, comma_choices, from_params, info, load_command_params
from portraitkit.params.clicks import Strategy

app = typer.Typer()


@app.command("clicks")
def clicks(
    curated: Path = typer.Option(..., "--curated", help="Curated directory (train/val/test.json)."),
    out: Path = typer.Option(..., "--out", help="Output directory (clicks.parquet, summary.json)."),
    sets: Optional[int] = typer.Option(
        None, "--sets", help="Click sets per instance and strategy. " + from_params("clicks.sets_per_strategy")
    ),
    strategies: Optional[str] = typer.Option(
        None,
        "--strategies",
        callback=comma_choices(get_args(Strategy)),
        metavar="S1,S2,...",
        help=f"Comma-separated, each one of: {', '.join(get_args(Strategy))}. " + from_params("clicks.strategies"),
    ),
    workers: Optional[int] = typer.Option(
        None, "--workers", help="Processes over images (output identical for any value). " + from_params("clicks.workers")
    ),
    seed: Optional[int] = typer.Option(None, "--seed", help="Root seed. " + from_params("seed")),
    params_file: Path = PARAMS_OPTION,
) -> None:
    """Simulate K click sets per strategy for every person instance (Xu et al. 2016, RITM).

    Writes clicks.parquet (one row per instance, strategy and set; clicks as [x, y] pixel
    coordinates of the original image) and summary.json. Strategies: xu_pos_neg1 (random
    background within D), xu_pos_neg2 (other objects), xu_pos_neg3 (boundary cover), multipoint
    (RITM-style). Same inputs and params give byte-identical outputs for any --workers.
    """
    from portraitkit.annotate.clicks.stage import run_clicks
    from portraitkit.params import override

    params = load_command_params(params_file)
    section = override(
        params.clicks,
        "clicks",
        sets_per_strategy=sets,
        strategies=strategies,
        workers=workers,
    )
    root_seed = params.seed if seed is None else seed
    summary = run_clicks(curated, out, section, root_seed, params.curate.person_category_id)
    info(
        f"clicks: {summary['instances']} instances in {summary['images']} images, {summary['sets']} sets, "
        f"{summary['instances_with_too_few_valid_points']} instances with too few valid points -> {out}"
    )
