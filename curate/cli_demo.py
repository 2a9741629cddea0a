"""``portraitkit demo-data``: write the synthetic COCO stand-in used by the demo pipeline and tests."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from portraitkit.cli_common import PARAMS_OPTION, from_params, info, load_command_params, progress

app = typer.Typer()


@app.command("demo-data")
def demo_data(
    out: Optional[Path] = typer.Option(None, "--out", help="Folder to write (replaced atomically if it exists)."),
    out_arg: Optional[Path] = typer.Argument(None, metavar="OUT", help="Same as --out (older spelling).", show_default=False),
    images: Optional[int] = typer.Option(None, "--images", help=f"Number of images. {from_params('demo.images')}"),
    seed: Optional[int] = typer.Option(None, "--seed", help=f"Generator seed. {from_params('demo.seed')}"),
    params_file: Path = PARAMS_OPTION,
) -> None:
    """Generate synthetic COCO-format person photos (with keypoints and the exact masks as truth)."""
    from portraitkit.curate.demo import iter_images, write_dataset
    from portraitkit.params import override

    if out is not None and out_arg is not None and out != out_arg:
        raise typer.BadParameter(f"given twice: --out {out} and OUT {out_arg}", param_hint="--out")
    out = out if out is not None else out_arg
    if out is None:
        raise typer.BadParameter("the folder to write is required", param_hint="--out")
    params = override(load_command_params(params_file).demo, "demo", images=images, seed=seed)
    stream = progress(iter_images(params.images, params.seed, params), desc="demo images", total=params.images, unit="img")
    summary = write_dataset(out, stream, params.seed, params)
    info(
        f"{out}: {summary['images']} images ({summary['images_without_person']} without a person), "
        f"{summary['persons']} persons ({summary['coarsened']} coarsened, {summary['body_part_only']} body parts), "
        f"{summary['crowd']} crowds, {summary['objects']} other objects; seed {params.seed}"
    )
