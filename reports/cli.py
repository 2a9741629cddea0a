"""``portraitkit report``: the self-contained HTML data report of the current dataset version."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from portraitkit.cli_common import PARAMS_OPTION, from_params, info

app = typer.Typer()


@app.command("report")
def report(
    ctx: typer.Context,
    out: Path = typer.Option(Path("data/report/site"), "--out", help="Folder for index.html (replaced as a whole)."),
    curated: Path = typer.Option(Path("data/curated"), "--curated", help="Output of the curate stage."),
    flags: Path = typer.Option(Path("data/flags"), "--flags", help="Output of the flag stage."),
    clicks: Path = typer.Option(Path("data/clicks"), "--clicks", help="Output of the clicks stage."),
    augmented: Path = typer.Option(Path("data/augmented"), "--augmented", help="Output of the augment stage."),
    images: Path = typer.Option(Path("data/demo/images"), "--images", help="Photos the galleries draw on."),
    train: Optional[Path] = typer.Option(
        None, "--train", help="Root of the train stage's runs, one folder per run (<root>/<name>/model.pt) "
        "(the section says 'not run' without it; the pipeline passes data/train)."
    ),
    evaluate: Optional[Path] = typer.Option(
        None, "--evaluate", help="Root of the evaluate stage's runs, one folder per run, named like the train runs "
        "(the pipeline passes data/evaluate)."
    ),
    export: Optional[Path] = typer.Option(
        None, "--export", help="Root of the export stage's outputs, one folder per model (<root>/<name>/device.json) "
        "(the pipeline passes data/export)."
    ),
    metrics: Optional[Path] = typer.Option(
        None, "--metrics", help="Write the headline numbers here as JSON (DVC metrics)."
    ),
    plots: Optional[Path] = typer.Option(None, "--plots", help="Write the histogram CSVs into this folder (DVC plots)."),
    title: Optional[str] = typer.Option(None, "--title", help="Page heading. " + from_params("report.title")),
    thumb_px: Optional[int] = typer.Option(
        None, "--thumb-px", help="Longest side of gallery thumbnails. " + from_params("report.thumb_px")
    ),
    coarse_examples: Optional[int] = typer.Option(
        None, "--coarse-examples", help="Most / least coarse persons shown. " + from_params("report.coarse_examples")
    ),
    flag_examples: Optional[int] = typer.Option(
        None, "--flag-examples", help="Body-part / held-object examples shown. " + from_params("report.flag_examples")
    ),
    click_examples: Optional[int] = typer.Option(
        None, "--click-examples", help="Click overlays per strategy. " + from_params("report.click_examples")
    ),
    params_file: Path = PARAMS_OPTION,
) -> None:
    """Render the report (funnel, distributions, galleries, clicks, augmentation, models, identity) as one HTML page.

    Sections whose stage has not run show a short note instead. The page opens offline.
    """
    from portraitkit.cli_common import load_command_params
    from portraitkit.errors import UserError
    from portraitkit.params import override
    from portraitkit.reports.collect import ReportInputs
    from portraitkit.reports.stage import build_report

    params = load_command_params(params_file)
    # a stage output named on the command line must exist (a default that does not is a stage not run yet)
    for name, stage in (("curated", "curate"), ("flags", "flag"), ("clicks", "clicks"), ("augmented", "augment"),
                        ("images", "")):
        path = ctx.params[name]
        if getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE" and not Path(path).is_dir():
            what = f"the output folder of `portraitkit {stage}`" if stage else "the photos folder"
            raise UserError(f"--{name} {path}: no such folder ({what})")
    params.report = override(
        params.report,
        "report",
        title=title,
        thumb_px=thumb_px,
        coarse_examples=coarse_examples,
        flag_examples=flag_examples,
        click_examples=click_examples,
    )
    for option, given in (("--train", train), ("--evaluate", evaluate), ("--export", export)):
        if given is not None and not given.is_dir():
            raise UserError(f"{option} {given}: no such folder (the root of the {option[2:]} stage's runs, one folder per run)")
    inputs = ReportInputs(curated=curated, flags=flags, clicks=clicks, augmented=augmented, images=images,
                          train=train, evaluate=evaluate, export=export)
    result = build_report(inputs, params, out, metrics, plots)
    missing = [sid for sid, ok in result.sections if not ok]
    info(
        f"report: {result.html} ({result.size_bytes / 1e6:.1f} MB), fingerprint {result.fingerprint[:12]}"
        + (f"; not run: {', '.join(missing)}" if missing else "")
    )
