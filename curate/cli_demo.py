"""``portraitkit demo-data``: write the synthetic COCO stand-in used by the demo pipeline and tests."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from portraitkit.cli_common import PARAMS_OPTION, from_params, info, progress

app = typer.Typer()


@app.command("demo-data")
def demo_data(
    out: Path = typer.Argument(..., help="Folder to write (replaced atomically if it exists)."),
    images: Optional[int] = typer.Option(None, "--images", help=f"Number of images. {from_params('demo.images')}"),
    seed: Optional[int] = typer.Option(None, "--seed", help=f"Generator seed. {from_params('demo.seed')}"),
    params_file: Path = PARAMS_OPTION,
) -> None:
    """Generate synthetic COCO-format person photos (with keypoints and the exact masks as truth)."""
    from portraitkit.curate.demo import iter_images, write_dataset
    from portraitkit.params import load_params, override

    params = override(load_params(params_file).demo, "demo", images=images, seed=seed)
    stream = progress(iter_images(params.images, params.seed, params), desc="demo images", total=params.images, unit="img")
    summary = write_dataset(out, stream, params.seed, params)
    info(
        f"{out}: {summary['images']} images ({summary['images_without_person']} without a person), "
        f"{summary['persons']} persons ({summary['coarsened']} coarsened, {summary['body_part_only']} body parts), "
        f"{summary['crowd']} crowds, {summary['objects']} other objects; seed {params.seed}"
    )
