"""Rendering every photo and writing the demo folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np
import pandas as pd

from portraitkit.io import write_json, write_parquet, write_png
from portraitkit.outputs import stage_output
from portraitkit.params.demo import DemoParams

from portraitkit.curate.demo.categories import PERSON, categories_json, person_keypoint_category
from portraitkit.curate.demo.coco_writer import DATE_CAPTURED, LICENSES, ImageRecords, image_records
from portraitkit.curate.demo.render import render_layer
from portraitkit.curate.demo.scene import KINDS, background, image_size, layers_for

SALT_IMAGE = 101  # rng streams: one per image, one per block of the scene-kind schedule
SALT_KINDS = 202


@dataclass
class DemoImage:
    index: int
    image_id: int
    kind: str
    file_name: str
    height: int
    width: int
    license: int
    jpeg: bytes
    records: ImageRecords


def kind_of(index: int, seed: int, params: DemoParams) -> str:
    """Scene kind of image ``index``: each aligned block of sum(mix) images has exactly the mix."""
    counts = params.mix.model_dump()
    block = [k for k in KINDS for _ in range(counts[k])]
    b, pos = divmod(index, len(block))
    order = np.random.default_rng([seed, SALT_KINDS, b]).permutation(len(block))
    return block[int(order[pos])]


def render_image(index: int, seed: int, params: DemoParams) -> DemoImage:
    """One photo and its annotations; depends only on (seed, index, params)."""
    rng = np.random.default_rng([seed, SALT_IMAGE, index])
    kind = kind_of(index, seed, params)
    h, w = image_size(rng, params.long_side_min, params.long_side_max, kind)
    canvas = background(rng, h, w)
    layers = layers_for(kind, rng, h, w)
    owner = np.zeros((h, w), np.int32)
    for i, layer in enumerate(layers):
        r = render_layer(layer, h, w, rng)
        if r is None:
            continue
        x0, y0, m, rgb = r
        win = (slice(y0, y0 + m.shape[0]), slice(x0, x0 + m.shape[1]))
        # paint-only details (eyes) may lie outside the mask; they are inside the head anyway
        canvas[win][m] = rgb[m]
        owner[win][m] = i + 1
    canvas = cv2.GaussianBlur(canvas, (0, 0), rng.uniform(0.45, 0.8))  # lens softness: edges stay crisp
    canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * np.float32(rng.uniform(1.5, 3.5))
    img = np.clip(np.round(canvas), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, params.jpeg_quality,
                                                    cv2.IMWRITE_JPEG_OPTIMIZE, 0])
    if not ok:
        raise RuntimeError(f"could not encode demo image {index} as JPEG")
    image_id = index + 1
    records = image_records(image_id, layers, owner, rng, params.coarse_fraction, params.polygon_epsilon)
    return DemoImage(index, image_id, kind, f"{image_id:012d}.jpg", h, w, LICENSES[index % len(LICENSES)]["id"],
                     buf.tobytes(), records)


def iter_images(n_images: int, seed: int, params: DemoParams | None = None) -> Iterator[DemoImage]:
    params = params or DemoParams()
    for index in range(n_images):
        yield render_image(index, seed, params)


def write_dataset(out_dir: Path, images: Iterable[DemoImage], seed: int, params: DemoParams) -> dict:
    """Write the demo folder atomically from rendered images; return a summary of counts."""
    out_dir = Path(out_dir)
    image_recs, instances, keypoints, truth_rows = [], [], [], []
    kinds: dict[str, int] = {}
    with stage_output(out_dir, "demo-data") as tmp:  # checks out_dir before the first image renders
        (tmp / "images").mkdir()
        (tmp / "truth" / "masks").mkdir(parents=True)
        for im in images:
            (tmp / "images" / im.file_name).write_bytes(im.jpeg)
            image_recs.append({"license": im.license, "file_name": im.file_name, "height": im.height,
                               "width": im.width, "date_captured": DATE_CAPTURED, "id": im.image_id})
            instances += im.records.instances
            keypoints += im.records.keypoints
            truth_rows += im.records.truth_rows
            for ann_id, mask in im.records.truth_masks.items():
                write_png(tmp / "truth" / "masks" / f"{ann_id}.png", mask.astype(np.uint8) * 255)
            kinds[im.kind] = kinds.get(im.kind, 0) + 1
        info = {"description": f"portraitkit demo data: synthetic COCO-format person images (seed {seed})",
                "url": "", "version": "1.0", "year": 2026, "contributor": "portraitkit demo-data",
                "date_created": "2026/01/01"}
        write_json(tmp / "annotations" / "instances.json",
                   {"info": info, "licenses": LICENSES, "images": image_recs, "annotations": instances,
                    "categories": categories_json()}, indent=None)
        write_json(tmp / "annotations" / "person_keypoints.json",
                   {"info": info, "licenses": LICENSES, "images": image_recs, "annotations": keypoints,
                    "categories": person_keypoint_category()}, indent=None)
        cols = ["annotation_id", "image_id", "coarsened", "coarsening", "polygon_iou", "body_part_only"]
        df = pd.DataFrame(truth_rows, columns=cols).astype(
            {"annotation_id": "int64", "image_id": "int64", "coarsened": "bool", "coarsening": "str",
             "polygon_iou": "float64", "body_part_only": "bool"})
        write_parquet(tmp / "truth" / "persons.parquet", df)
        summary = _summary(image_recs, instances, df, kinds)
        (tmp / "README.md").write_text(_readme(seed, params, summary), encoding="utf-8")
    return summary


def _summary(images: list[dict], instances: list[dict], truth: pd.DataFrame, kinds: dict[str, int]) -> dict:
    persons = [a for a in instances if a["category_id"] == PERSON]
    with_person = {a["image_id"] for a in persons}
    return {
        "images": len(images),
        "annotations": len(instances),
        "persons": sum(1 for a in persons if not a["iscrowd"]),
        "crowd": sum(1 for a in persons if a["iscrowd"]),
        "objects": len(instances) - len(persons),
        "coarsened": int(truth["coarsened"].sum()),
        "body_part_only": int(truth["body_part_only"].sum()),
        "images_without_person": len(images) - len(with_person),
        "kinds": dict(sorted(kinds.items())),
    }


def _readme(seed: int, params: DemoParams, summary: dict) -> str:
    counts = "\n".join(f"- {k}: {v}" for k, v in summary.items() if k != "kinds")
    kinds = ", ".join(f"{k} {v}" for k, v in summary["kinds"].items())
    return f"""# portraitkit demo data (synthetic)

This folder was generated by `portraitkit demo-data` with seed {seed}. It is NOT real COCO:
every photo is drawn by the generator (people as jointed shapes on cluttered backgrounds),
so the pipeline can run and be tested without downloading COCO. Same seed and params give
byte-identical files.

- `images/`: JPEG photos (quality {params.jpeg_quality}, longest side {params.long_side_min}-{params.long_side_max} px)
- `annotations/instances.json`: COCO instances (all 80 COCO categories, real ids)
- `annotations/person_keypoints.json`: COCO person keypoints, same annotation ids
- `truth/masks/<annotation_id>.png`: exact visible mask (0/255) of every non-crowd person
- `truth/persons.parquet`: which person polygons were deliberately coarsened
  (`coarsening`: few_vertices, chords, bulge or shrink) and the polygon's IoU with the exact mask

The `truth/` folder is what a perfect annotator would have drawn; the COCO files never refer to it.

Counts:
{counts}

Scene kinds: {kinds}
"""


def generate(out_dir: Path, n_images: int, seed: int, params: DemoParams | None = None) -> dict:
    """Write ``n_images`` demo photos with COCO annotations into ``out_dir`` (atomically)."""
    params = params or DemoParams()
    return write_dataset(Path(out_dir), iter_images(n_images, seed, params), seed, params)


