"""``portraitkit review``: review masks in FiftyOne, pull the decisions back into curate.

FiftyOne is imported inside each command (through ``annotate.review``), so ``--help`` is fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from portraitkit.cli_common import PARAMS_OPTION, from_params, info

GROUP_NAME = "review"

app = typer.Typer(
    help="Review masks in the FiftyOne App; annotators' reject/accept tags flow back into curate.\n\n"
    "Database: FiftyOne's database_uri (FIFTYONE_DATABASE_URI) if set, else FiftyOne's own mongod.",
    no_args_is_help=True,
)

NAME_OPTION = typer.Option(None, "--name", help=f"FiftyOne dataset name. {from_params('review.name')}")


def _review_params(params_file: Path, **values):
    from portraitkit.cli_common import load_command_params
    from portraitkit.params import override

    params = load_command_params(params_file)
    return params, override(params.review, "review", **values)


@app.command("build")
def build_cmd(
    curated: Path = typer.Option(..., "--curated", help="The curate stage's --out folder."),
    images: Path = typer.Option(..., "--images", help="Folder of the photos, by COCO file_name."),
    flags: Optional[Path] = typer.Option(None, "--flags", help="The flag stage's folder (coarseness per person)."),
    clicks: Optional[Path] = typer.Option(None, "--clicks", help="The clicks stage's folder (clicks.parquet)."),
    predictions: Optional[Path] = typer.Option(
        None,
        "--predictions",
        help="Folder of a model's masks, <image_id>.png, or a `portraitkit evaluate` --out folder (adds the "
        "per-sample prediction_iou / prediction_miou / prediction_biou and the worst-predictions view): attached "
        "as the 'predictions' field (left as they are when omitted).",
    ),
    decisions: Optional[Path] = typer.Option(
        None,
        "--decisions",
        help="decisions.csv whose verdicts tag samples that have no reject/accept tag yet "
        "(restores a fresh dataset).",
    ),
    receipt: Optional[Path] = typer.Option(
        None, "--receipt", help="Write a JSON receipt (dataset, sample count, fields, input digests) here."
    ),
    name: Optional[str] = NAME_OPTION,
    params_file: Path = PARAMS_OPTION,
) -> None:
    """Build or update in place the persistent FiftyOne review dataset of the kept images."""
    params, review = _review_params(params_file, name=name)
    from portraitkit.annotate.review.build import build
    from portraitkit.annotate.review.database import describe

    result = build(
        review.name,
        curated=curated,
        images=images,
        flags=flags,
        clicks=clicks,
        predictions=predictions,
        decisions=decisions,
        person_category_id=params.curate.person_category_id,
        receipt=receipt,
    )
    info(
        f"dataset {result.name!r} in {describe()}: {result.samples} samples "
        f"({result.added} added, {result.updated} updated, {result.deleted} deleted); "
        f"views: {', '.join(result.views)}"
    )
    if receipt is not None:
        info(f"receipt: {receipt}")


@app.command("app")
def app_cmd(
    name: Optional[str] = NAME_OPTION,
    port: Optional[int] = typer.Option(None, "--port", help=f"App port. {from_params('review.port')}"),
    address: Optional[str] = typer.Option(
        None, "--address", help=f"Address to bind (0.0.0.0: your network). {from_params('review.address')}"
    ),
    view: Optional[str] = typer.Option(
        None, "--view", help="Open a saved view, e.g. coarse-first, flagged, body-parts, held-objects, split-val."
    ),
    params_file: Path = PARAMS_OPTION,
) -> None:
    """Open the FiftyOne App on the review dataset; Ctrl-C stops it."""
    _, review = _review_params(params_file, name=name, port=port, address=address)
    from portraitkit.annotate.review.app import launch

    launch(review.name, review.port, review.address, echo=typer.echo, view=view)


@app.command("pull")
def pull_cmd(
    out: Path = typer.Option(
        Path("reviews/decisions.csv"), "--out", help="decisions CSV that `curate --reviews` reads.", show_default=True
    ),
    name: Optional[str] = NAME_OPTION,
    replace: bool = typer.Option(
        False,
        "--replace",
        help="Write only the dataset's decisions; by default rows of --out for images no longer in the "
        "dataset (rejected earlier) are kept.",
    ),
    params_file: Path = PARAMS_OPTION,
) -> None:
    """Write the annotators' reject/accept tags and notes as image_id,decision,note."""
    _, review = _review_params(params_file, name=name)
    from portraitkit.annotate.review.pull import pull

    result = pull(review.name, out, merge=not replace)
    info(
        f"{out}: {result.rows} decisions ({result.reject} reject, {result.accept} accept; "
        f"{result.from_dataset} from dataset {review.name!r}, {result.carried_over} carried over)"
    )
