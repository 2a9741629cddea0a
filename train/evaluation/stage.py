"""The evaluate stage: one model file scored on one curated split, at each photo's own resolution.

Outputs (inside ``out``, swapped in as a whole):

- ``metrics.json``: means over images of ``iou`` (person), ``miou`` (mean of the person and the
  background IoU), ``boundary_iou`` and ``iou_background``; ``iou_pooled`` (intersections and unions
  summed over images); ``n_images``; the model file (name, format, size, sha256), its input spec,
  the curated folder's dataset fingerprint and whether the model was trained on that version.
  Interactive models add ``noc85`` ``noc90`` ``noc85_failed`` ``noc90_failed`` ``iou_at_1/3/5``
  (``noc_instances`` persons) and the same keys of the GrabCut baseline under ``grabcut``;
- ``per_image.parquet``: one row per image (ids, size, every score, pixel counts);
- ``predictions/<image_id>.png``: the thresholded prediction, 0/255, at the image's size;
- interactive models: ``noc_instances.parquet`` (one row per clicked person and predictor, with its
  IoU after every click) and ``noc_curve.csv`` (mean IoU after each click, model and GrabCut).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from portraitkit.errors import UserError
from portraitkit.io import read_json, safe_join, write_json, write_parquet, write_png
from portraitkit.outputs import check_output, stage_output
from portraitkit.params import Params
from portraitkit.train.evaluation import metrics as M
from portraitkit.train.evaluation.runners import Runner

STAGE = "evaluate"
PER_IMAGE_SCHEMA = pa.schema(
    [
        ("image_id", pa.int64()),
        ("file_name", pa.string()),
        ("width", pa.int64()),
        ("height", pa.int64()),
        ("n_persons", pa.int64()),
        ("iou", pa.float64()),
        ("iou_background", pa.float64()),
        ("miou", pa.float64()),
        ("boundary_iou", pa.float64()),
        ("intersection", pa.int64()),
        ("union", pa.int64()),
        ("gt_pixels", pa.int64()),
        ("pred_pixels", pa.int64()),
    ]
)
NOC_SCHEMA = pa.schema(
    [
        ("image_id", pa.int64()),
        ("annotation_id", pa.int64()),
        ("area", pa.int64()),
        ("predictor", pa.string()),
        ("noc85", pa.int64()),
        ("noc90", pa.int64()),
        ("reached85", pa.bool_()),
        ("reached90", pa.bool_()),
        ("ious", pa.list_(pa.float64())),
    ]
)


@dataclass
class EvaluateResult:
    out: Path
    metrics: dict[str, Any]


def _written_before_the_marker(out: Path) -> bool:
    """An evaluate output from before ``portraitkit.outputs`` (its metrics.json names the stage)."""
    try:
        return read_json(out / "metrics.json").get("stage") == STAGE
    except (UserError, AttributeError):
        return False


def dataset_fingerprint(curated: Path) -> str | None:
    """The curated folder's fingerprint, as the train stage records it in a checkpoint."""
    try:
        from portraitkit.train.fingerprint import curated_fingerprint
    except ImportError:
        return None
    return curated_fingerprint(curated)


def _gt_mask(curated: Path, image_id: int, anns: list[dict], height: int, width: int) -> np.ndarray:
    """Union of the image's person masks: curate's masks/<id>.png when written, else rasterised from COCO."""
    import cv2

    from portraitkit.curate.masks import union_mask

    png = curated / "masks" / f"{image_id}.png"
    if png.is_file():
        m = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
        if m is None:
            raise UserError(f"{png}: not a readable PNG mask")
        if m.shape != (height, width):
            raise UserError(f"{png}: mask is {m.shape[1]}x{m.shape[0]}, image {image_id} is {width}x{height}")
        return (m >= 128 if m.max(initial=0) > 1 else m > 0).astype(np.uint8)
    return union_mask(anns, height, width)


def _read_photo(images: Path, img: dict, split_file: Path) -> np.ndarray:
    """uint8 BGR pixels in the frame the annotations were drawn in, or a one-line UserError."""
    from portraitkit.images import read_image

    record = f"image {img['id']}"
    path = safe_join(images, img["file_name"], context=f"{split_file}: {record}: file_name")
    read = read_image(path, int(img["width"]), int(img["height"]), order="BGR")
    if read.bgr is None:
        raise UserError(f"{path}: {record}: {read.problem}")
    return read.bgr


def _csv(header: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def evaluate(
    runner: Runner,
    curated: Path,
    images: Path,
    out: Path,
    params: Params,
) -> EvaluateResult:
    from portraitkit.cli_common import progress
    from portraitkit.curate.outputs import read_split

    ep, cp = params.evaluate, params.clicks
    curated, images, out = Path(curated), Path(images), Path(out)
    if not curated.is_dir():
        raise UserError(f"{curated}: curated folder not found (run `portraitkit curate` first)")
    if not images.is_dir():
        raise UserError(f"{images}: images folder not found")
    check_output(out, STAGE, [curated, images, runner.model.path], legacy=_written_before_the_marker)  # before any work
    split_file = curated / f"{ep.split}.json"
    if not split_file.is_file():
        raise UserError(f"{split_file}: split file not found (is {curated} the curate stage's --out?)")
    coco = read_split(split_file)
    person_id = params.curate.person_category_id
    by_image: dict[int, list[dict]] = {}
    for ann in coco["annotations"]:
        if ann.get("category_id") == person_id:
            by_image.setdefault(int(ann["image_id"]), []).append(ann)
    imgs = sorted(coco["images"], key=lambda im: int(im["id"]))
    if not imgs:
        raise UserError(f"{split_file}: the {ep.split} split holds no images")

    interactive = runner.interactive
    grabcut = None
    if interactive and ep.grabcut_baseline:
        from portraitkit.annotate.clicks.grabcut_baseline import GrabCutPredictor

        grabcut = GrabCutPredictor()
    thresholds = [float(t) for t in cp.noc_thresholds]

    rows, scores, noc_rows = [], [], []
    model_runs, grabcut_runs = [], []
    preds: dict[int, np.ndarray] = {}
    for img in progress(imgs, desc=f"evaluate {runner.model.path.name}", total=len(imgs), unit="img"):
        iid, width, height = int(img["id"]), int(img["width"]), int(img["height"])
        anns = sorted(by_image.get(iid, []), key=lambda a: int(a["id"]))
        bgr = _read_photo(images, img, split_file)
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        gt = _gt_mask(curated, iid, anns, height, width)
        if interactive:
            from portraitkit.curate.masks import ann_to_mask
            from portraitkit.train.evaluation.interactive import Person, click_image

            persons = []
            for a in anns:
                if a.get("iscrowd", 0):
                    continue
                m = ann_to_mask(a, height, width)
                area = int(m.sum())
                if area:
                    persons.append(Person(int(a["id"]), area, m, area >= ep.noc_min_area))

            def predict(image, pos, neg):
                return (runner.predict(image, pos, neg) >= ep.threshold).astype(np.uint8)

            pred, runs = click_image(
                rgb, bgr, persons, predict, grabcut, cp.max_clicks, thresholds, cp.next_click_rule, ep.interactive_clicks
            )
            for run in runs:
                if not run.person.in_noc:
                    continue
                model_runs.append(run.model)
                if run.grabcut is not None:
                    grabcut_runs.append(run.grabcut)
                for name, res in (("model", run.model), ("grabcut", run.grabcut)):
                    if res is not None:
                        noc_rows.append(_noc_row(iid, run.person, name, res))
        else:
            pred = (runner.predict(rgb) >= ep.threshold).astype(np.uint8)
        score = M.score_image(pred, gt, band=ep.biou_band)
        scores.append(score)
        preds[iid] = pred
        rows.append({"image_id": iid, "file_name": str(img["file_name"]), "width": width, "height": height,
                     "n_persons": len(anns), **{k: v for k, v in score.as_dict().items()}})

    summary = M.summarize(scores)
    meta = runner.model.meta or {}
    curated_fp = dataset_fingerprint(curated)
    model_fp = meta.get("dataset_fingerprint") or (meta.get("spec_from") or {}).get("dataset_fingerprint")
    metrics: dict[str, Any] = {
        "stage": STAGE,
        "split": ep.split,
        **summary,
        "miou_is": "mean over images of (person IoU + background IoU) / 2",
        "threshold": ep.threshold,
        "biou_band": ep.biou_band,
        "model": {
            **runner.model.as_dict(),
            **{k: meta[k] for k in ("arch", "n_params", "macs", "interactive") if k in meta},
        },
        "input_spec": runner.spec.as_dict(),
        "dataset_fingerprint": curated_fp,
        "model_dataset_fingerprint": model_fp,
        "dataset_match": (model_fp == curated_fp) if (model_fp and curated_fp) else None,
    }
    if interactive:
        from portraitkit.train.evaluation.interactive import curve_rows, noc_metrics

        metrics["interactive_clicks"] = ep.interactive_clicks
        metrics["max_clicks"] = cp.max_clicks
        metrics["next_click_rule"] = cp.next_click_rule
        metrics.update(noc_metrics(model_runs, thresholds))
        if grabcut is not None:
            metrics["grabcut"] = noc_metrics(grabcut_runs, thresholds)

    with stage_output(out, STAGE, [curated, images, runner.model.path], legacy=_written_before_the_marker) as tmp:
        pred_dir = tmp / "predictions"
        pred_dir.mkdir()
        for iid, pred in preds.items():
            write_png(pred_dir / f"{iid}.png", pred * 255)
        write_parquet(tmp / "per_image.parquet", pd.DataFrame(rows, columns=PER_IMAGE_SCHEMA.names), schema=PER_IMAGE_SCHEMA)
        if interactive:
            write_parquet(tmp / "noc_instances.parquet", pd.DataFrame(noc_rows, columns=NOC_SCHEMA.names), schema=NOC_SCHEMA)
            (tmp / "noc_curve.csv").write_text(
                _csv(["clicks", "model", "grabcut"], curve_rows(model_runs, grabcut_runs or None, cp.max_clicks, thresholds)),
                encoding="utf-8",
            )
        write_json(tmp / "metrics.json", metrics)
    return EvaluateResult(out, metrics)


def _noc_row(image_id: int, person, predictor: str, res) -> dict[str, Any]:
    def at(t: float, d: dict) -> Any:
        return d.get(t, d.get(round(t, 2)))

    return {
        "image_id": image_id,
        "annotation_id": person.annotation_id,
        "area": person.area,
        "predictor": predictor,
        "noc85": at(0.85, res.noc),
        "noc90": at(0.90, res.noc),
        "reached85": at(0.85, res.reached),
        "reached90": at(0.90, res.reached),
        "ious": [float(v) for v in res.ious],
    }
