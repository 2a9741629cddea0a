"""Build (or update in place) the persistent FiftyOne review dataset from curated data.

One sample per kept image, keyed by the ``image_id`` field. Rebuilding the same name updates
the samples that exist, adds new kept images and deletes images no longer kept; it never
touches the annotators' decision tags (``reject``/``accept``) or their ``note`` field.

Fields of a sample: ``image_id``, ``file_name``, ``split``, ``coverage``, ``n_persons``,
``has_crowd``, ``overlapping_categories``, ``held_objects``, ``n_body_parts``, ``body_part_flag``,
``held_object_flag``, ``problems``, ``n_flagged``, ``max_coarseness``, ``image_problem``,
``note``, and labels:

- ``persons``: ``Detections``, one per person annotation, each with its instance mask (cropped
  to an integer pixel box) and attributes ``annotation_id``, ``iscrowd``, ``coarseness``,
  ``flagged``, ``flag_reasons``; flagged persons carry the label tag ``flagged``.
- ``segmentation``: ``Segmentation`` of the union person mask (PNG 0/255, value 255 = person).
- ``clicks``: ``Keypoints``, per click set one ``positive`` and one ``negative`` keypoint list
  (normalised ``x / width``, ``y / height``), attributes ``annotation_id``, ``strategy``, ``set_index``.
- ``predictions``: ``Segmentation`` of a model's masks, when ``--predictions`` was given; given the
  ``portraitkit evaluate`` output folder, also ``prediction_iou``, ``prediction_miou`` and ``prediction_biou`` (Boundary IoU)
  of each image, and the saved view ``worst-predictions`` (lowest IoU first).

Sample tags set by the build: ``flagged`` (a coarse person), ``body_part``, ``held_object``.
Mask PNGs are copied into a folder FiftyOne owns (``<default_dataset_dir>/portraitkit-review/<name>``)
so the dataset does not break when ``data/curated`` is rebuilt.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from portraitkit.annotate.review.predictions import SCORE_FIELDS, read_predictions
from portraitkit.curate.masks import ann_to_mask, union_mask
from portraitkit.curate.outputs import SPLIT_FILES, read_split
from portraitkit.errors import UserError
from portraitkit.io import read_parquet, safe_join, sha256_file, sha256_tree, write_json

BUILD_TAGS = ("flagged", "body_part", "held_object")
DECISION_TAGS = ("accept", "reject")
MARKER = "portraitkit"
PERSON_VALUE = 255
PREDICTION_SCORES = tuple(SCORE_FIELDS)  # from an evaluate output's per_image.parquet


@dataclass
class BuildResult:
    name: str
    samples: int
    added: int
    updated: int
    deleted: int
    fields: list[str]
    views: list[str]
    media_dir: Path
    inputs: dict[str, str | None] = field(default_factory=dict)

    def receipt(self) -> dict[str, Any]:
        """What the DVC stage keeps: deterministic for the same inputs (no paths, no times)."""
        return {
            "dataset": self.name,
            "samples": self.samples,
            "fields": self.fields,
            "views": self.views,
            "inputs": self.inputs,
        }


# ---------------------------------------------------------------- reading inputs


def _py(value: Any) -> Any:
    """numpy/pandas scalars and arrays -> plain Python (FiftyOne stores Python types)."""
    if value is None:
        return None
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return None if math.isnan(f) else f
    if isinstance(value, np.ndarray):
        return [_py(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_py(v) for v in value]
    return value


def _str_list(value: Any) -> list[str]:
    value = _py(value)
    if value is None:
        return []
    if isinstance(value, str):  # the flag stage writes reasons as "a;b;c"
        return [v for v in value.split(";") if v]
    return [str(v) for v in value]


def _require_columns(df: Any, path: Path, columns: list[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)}")


def _read_coco(curated: Path, person_id: int) -> tuple[dict[int, dict], dict[int, list[dict]]]:
    """images by id and person annotations by image id, over the three split files."""
    images: dict[int, dict] = {}
    persons: dict[int, list[dict]] = defaultdict(list)
    found = False
    for name in SPLIT_FILES:
        path = curated / name
        if not path.exists():
            continue
        found = True
        coco = read_split(path)
        for img in coco["images"]:
            images[int(img["id"])] = img
        for ann in coco["annotations"]:
            if ann.get("category_id") == person_id:
                persons[int(ann["image_id"])].append(ann)
    if not found:
        raise UserError(f"{curated}: no {'/'.join(SPLIT_FILES)} (is this the curate stage's --out folder?)")
    for anns in persons.values():
        anns.sort(key=lambda a: int(a["id"]))
    return images, persons


def _read_mask_png(path: Path, height: int, width: int) -> np.ndarray:
    import cv2

    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise UserError(f"{path}: not a readable PNG mask")
    if mask.ndim == 3:
        mask = mask[..., 0]
    if mask.shape != (height, width):
        raise UserError(f"{path}: mask is {mask.shape[1]}x{mask.shape[0]}, the image is {width}x{height}")
    values = np.unique(mask)
    if not (set(values.tolist()) <= {0, 1} or set(values.tolist()) <= {0, 255}):
        shown = ", ".join(map(str, values[:6].tolist()))
        raise UserError(f"{path}: a mask must hold 0/1 or 0/255, this one holds {shown}")
    return mask


def _binary_255(mask: np.ndarray) -> np.ndarray:
    """0/255 uint8: values > 0 are foreground for 0/1 masks, values >= 128 for 0..255 masks."""
    fg = mask >= 128 if mask.max(initial=0) > 1 else mask > 0
    return (fg.astype(np.uint8)) * PERSON_VALUE


def label_id(*key: Any) -> str:
    """A deterministic ObjectId (hex) for a label, so rebuilds keep label ids stable."""
    return hashlib.sha256("/".join(map(str, key)).encode()).hexdigest()[:24]


def _with_id(label: Any, *key: Any) -> Any:
    label.id = label_id(*key)
    return label


def _person_detection(fo: Any, ann: dict, height: int, width: int, flag: dict | None) -> Any:
    """One person as a ``Detection`` whose mask is pixel-exact on an integer box."""
    full = ann_to_mask(ann, height, width).astype(bool)
    x, y, w, h = (float(v) for v in ann.get("bbox", (0, 0, 0, 0)))
    x0, y0 = max(0, math.floor(x)), max(0, math.floor(y))
    x1, y1 = min(width, math.ceil(x + w)), min(height, math.ceil(y + h))
    ys, xs = np.nonzero(full)
    if len(xs):  # rasterisation may spill a pixel beyond the float bbox
        x0, y0 = min(x0, int(xs.min())), min(y0, int(ys.min()))
        x1, y1 = max(x1, int(xs.max()) + 1), max(y1, int(ys.max()) + 1)
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    det = fo.Detection(
        label="person",
        bounding_box=[x0 / width, y0 / height, (x1 - x0) / width, (y1 - y0) / height],
        mask=full[y0:y1, x0:x1].copy(),
    )
    det.id = label_id("persons", int(ann["id"]))
    det["annotation_id"] = int(ann["id"])
    det["iscrowd"] = bool(ann.get("iscrowd", 0))
    det["area"] = _py(ann.get("area"))
    det["coarseness"] = _py(flag.get("coarseness")) if flag else None
    det["flagged"] = bool(flag.get("flagged")) if flag else None
    det["flag_reasons"] = _str_list(flag.get("reasons")) if flag else []
    if flag and flag.get("flagged"):
        det.tags = ["flagged"]
    return det


def _click_keypoints(fo: Any, rows: list[dict], height: int, width: int) -> Any:
    kps = []
    for row in rows:
        for label, key in (("positive", "positives"), ("negative", "negatives")):
            pts = [[float(p[0]) / width, float(p[1]) / height] for p in (_py(row.get(key)) or [])]
            if not pts:
                continue
            kp = fo.Keypoint(label=label, points=pts)
            kp.id = label_id("clicks", row.get("annotation_id"), row.get("strategy"), row.get("set_index"), label)
            kp["annotation_id"] = _py(row.get("annotation_id"))
            kp["strategy"] = _py(row.get("strategy"))
            kp["set_index"] = _py(row.get("set_index"))
            kps.append(kp)
    return fo.Keypoints(keypoints=kps)


def _write_if_changed(path: Path, mask: np.ndarray) -> None:
    import cv2

    from portraitkit.io import write_png

    ok, buf = cv2.imencode(".png", mask)
    if not ok:
        raise RuntimeError(f"could not encode {path}")
    data = buf.tobytes()
    if path.exists() and path.read_bytes() == data:
        return
    write_png(path, mask)


def media_dir_for(fo: Any, name: str) -> Path:
    """Where the build keeps a dataset's mask PNGs (outside the repository)."""
    return Path(fo.config.default_dataset_dir).expanduser().resolve() / "portraitkit-review" / name


def _images_digest(images: Path, file_names: list[str]) -> str:
    """Cheap, deterministic digest of the kept images: file names and sizes (not contents)."""
    h = hashlib.sha256()
    for fn in sorted(file_names):
        h.update(fn.encode())
        h.update(b"\0")
        h.update(str((images / fn).stat().st_size).encode())
        h.update(b"\n")
    return h.hexdigest()


def read_decision_rows(path: Path) -> dict[int, tuple[str, str]]:
    """image_id -> (decision, note) of a decisions CSV: curate's reader (``curate.reviews``)."""
    from portraitkit.curate.reviews import read_decision_rows as read_rows

    return read_rows(path)


# ---------------------------------------------------------------- the build


def build(
    name: str,
    curated: Path,
    images: Path,
    flags: Path | None = None,
    clicks: Path | None = None,
    predictions: Path | None = None,
    decisions: Path | None = None,
    person_category_id: int = 1,
    receipt: Path | None = None,
) -> BuildResult:
    from portraitkit.cli_common import progress

    curated, images = Path(curated), Path(images)
    from portraitkit.outputs import check_file_output, stage_json

    if receipt is not None:  # before any work: a file review build wrote, or a new one
        check_file_output(receipt, "review build", [curated, images, flags, clicks, predictions, decisions], option="--receipt")
    if not curated.is_dir():
        raise UserError(f"{curated}: curated folder not found (run `portraitkit curate` first)")
    if not images.is_dir():
        raise UserError(f"{images}: images folder not found")
    for opt, d in (("--flags", flags), ("--clicks", clicks), ("--predictions", predictions)):
        if d is not None and not Path(d).is_dir():
            raise UserError(f"{d}: {opt} folder not found")
    pred_pngs, pred_scores = (None, {})
    if predictions is not None:
        pred_pngs, pred_scores = read_predictions(Path(predictions))

    manifest_path = curated / "manifest.parquet"
    manifest = read_parquet(manifest_path)
    _require_columns(manifest, manifest_path, ["image_id", "file_name", "width", "height", "kept", "split"])
    kept = manifest[manifest["kept"].astype(bool)].sort_values("image_id")
    coco_images, persons = _read_coco(curated, person_category_id)

    # every kept image must be there before the database is touched
    missing = []
    for row in kept.itertuples(index=False):
        path = safe_join(images, row.file_name, context=f"{manifest_path}: image {row.image_id}: file_name")
        if not path.is_file():
            missing.append(str(path))
    if missing:
        raise UserError(
            f"{images}: {len(missing)} of {len(kept)} kept images not found (first: {missing[0]}); "
            "pass the --images folder curate used"
        )

    flag_by_ann: dict[int, dict] = {}
    flag_by_image: dict[int, dict] = {}
    if flags is not None:
        fp = Path(flags) / "flags.parquet"
        fdf = read_parquet(fp)
        _require_columns(fdf, fp, ["annotation_id", "image_id", "coarseness", "flagged"])
        flag_by_ann = {int(r["annotation_id"]): r for r in fdf.to_dict("records")}
        ip = Path(flags) / "images.parquet"
        if ip.exists():
            idf = read_parquet(ip)
            _require_columns(idf, ip, ["image_id", "n_flagged", "max_coarseness"])
            flag_by_image = {int(r["image_id"]): r for r in idf.to_dict("records")}

    clicks_by_image: dict[int, list[dict]] = defaultdict(list)
    if clicks is not None:
        cp = Path(clicks) / "clicks.parquet"
        cdf = read_parquet(cp)
        _require_columns(cdf, cp, ["annotation_id", "image_id", "positives", "negatives"])
        sort_cols = [c for c in ("image_id", "annotation_id", "strategy", "set_index") if c in cdf.columns]
        for r in cdf.sort_values(sort_cols).to_dict("records"):
            clicks_by_image[int(r["image_id"])].append(r)

    seeds: dict[int, tuple[str, str]] = read_decision_rows(Path(decisions)) if decisions is not None else {}

    from portraitkit.annotate.review.database import connect

    fo = connect()
    media = media_dir_for(fo, name)

    # ---- records
    records: dict[int, dict[str, Any]] = {}
    masks_dir = curated / "masks"
    for row in progress(kept.to_dict("records"), desc="review samples", total=len(kept), unit="img"):
        image_id = int(row["image_id"])
        width, height = int(row["width"]), int(row["height"])
        anns = persons.get(image_id, [])
        if image_id not in coco_images:
            raise UserError(f"{manifest_path}: image {image_id}: kept but absent from {'/'.join(SPLIT_FILES)}")
        mask_png = masks_dir / f"{image_id}.png"
        if mask_png.exists():
            seg = _binary_255(_read_mask_png(mask_png, height, width))
        else:
            seg = union_mask(anns, height, width) * PERSON_VALUE
        seg_path = media / "masks" / f"{image_id}.png"
        _write_if_changed(seg_path, seg.astype(np.uint8))

        dets = [_person_detection(fo, a, height, width, flag_by_ann.get(int(a["id"]))) for a in anns]
        img_flags = flag_by_image.get(image_id)
        ann_flags = [flag_by_ann[int(a["id"])] for a in anns if int(a["id"]) in flag_by_ann]
        if img_flags is not None:
            n_flagged, max_coarse = _py(img_flags.get("n_flagged")), _py(img_flags.get("max_coarseness"))
        elif ann_flags:
            n_flagged = sum(bool(f.get("flagged")) for f in ann_flags)
            cs = [c for c in (_py(f.get("coarseness")) for f in ann_flags) if c is not None]
            max_coarse = max(cs) if cs else None
        else:
            n_flagged, max_coarse = None, None

        tags = []
        if n_flagged:
            tags.append("flagged")
        if _py(row.get("body_part_flag")):
            tags.append("body_part")
        if _py(row.get("held_object_flag")):
            tags.append("held_object")

        fields: dict[str, Any] = {
            "image_id": image_id,
            "file_name": str(row["file_name"]),
            "split": _py(row.get("split")),
            "coverage": _py(row.get("coverage")),
            "n_persons": _py(row.get("n_persons")),
            "has_crowd": _py(row.get("has_crowd")),
            "overlapping_categories": _str_list(row.get("overlapping_categories")),
            "n_body_parts": _py(row.get("n_body_parts")),
            "body_part_flag": _py(row.get("body_part_flag")),
            "held_object_flag": _py(row.get("held_object_flag")),
            "held_objects": _str_list(row.get("held_objects")),
            "problems": _str_list(row.get("problems")),
            "image_problem": (_py(img_flags.get("image_problem")) or None) if img_flags is not None else None,
            "n_flagged": n_flagged,
            "max_coarseness": max_coarse,
            "persons": fo.Detections(detections=dets),
            "segmentation": _with_id(fo.Segmentation(mask_path=str(seg_path)), "segmentation", image_id),
            "metadata": fo.ImageMetadata(width=width, height=height),
        }
        if clicks is not None:
            fields["clicks"] = _click_keypoints(fo, clicks_by_image.get(image_id, []), height, width)
        if predictions is not None:
            pred_png = pred_pngs / f"{image_id}.png"
            if pred_png.exists():
                pred_path = media / "predictions" / f"{image_id}.png"
                _write_if_changed(pred_path, _binary_255(_read_mask_png(pred_png, height, width)))
                fields["predictions"] = _with_id(fo.Segmentation(mask_path=str(pred_path)), "predictions", image_id)
            else:
                fields["predictions"] = None
            scores = pred_scores.get(image_id, {})
            fields.update({key: scores.get(key) for key in PREDICTION_SCORES})
        records[image_id] = {
            "filepath": str(safe_join(images, row["file_name"], context="").resolve()),
            "tags": tags,
            "fields": fields,
        }

    # ---- upsert
    if fo.dataset_exists(name):
        ds = fo.load_dataset(name)
        if len(ds) and MARKER not in (ds.info or {}):
            raise UserError(
                f"FiftyOne dataset {name!r} exists and was not made by portraitkit; pass another --name"
            )
    else:
        ds = fo.Dataset(name, persistent=True)
    ds.persistent = True
    _declare_fields(fo, ds, clicks is not None, predictions is not None)

    existing: dict[int, str] = {}
    if len(ds):
        existing = {int(i): sid for i, sid in zip(ds.values("image_id"), ds.values("id")) if i is not None}

    stale = [sid for iid, sid in existing.items() if iid not in records]
    if stale:
        ds.delete_samples(stale)

    updated = 0
    to_update = {iid: sid for iid, sid in existing.items() if iid in records}
    if to_update:
        view = ds.select(list(to_update.values()))
        for sample in view.iter_samples(autosave=True, progress=False):
            rec = records[int(sample["image_id"])]
            _keep_label_tags(sample["persons"], rec["fields"]["persons"])
            sample.filepath = rec["filepath"]
            for key, value in rec["fields"].items():
                if key in ("predictions", *PREDICTION_SCORES) and predictions is None:
                    continue
                sample[key] = value
            kept_tags = [t for t in sample.tags if t not in BUILD_TAGS]
            new_tags = sorted(set(kept_tags) | set(rec["tags"]))
            if new_tags != list(sample.tags):
                sample.tags = new_tags
            updated += 1

    new_samples = []
    for iid, rec in records.items():
        if iid in existing:
            continue
        fields = {k: v for k, v in rec["fields"].items() if v is not None}
        new_samples.append(fo.Sample(filepath=rec["filepath"], tags=sorted(rec["tags"]), **fields))
    if new_samples:
        ds.add_samples(new_samples, progress=False)

    if seeds:
        _seed_decisions(ds, seeds)

    mask_targets = dict(ds.mask_targets or {})
    mask_targets["segmentation"] = {PERSON_VALUE: "person"}
    if predictions is not None or "predictions" in ds.get_field_schema():
        mask_targets["predictions"] = {PERSON_VALUE: "person"}
    ds.mask_targets = mask_targets
    _set_colors(fo, ds)

    from portraitkit.annotate.review.views import save_views

    views = save_views(ds)

    inputs: dict[str, str | None] = {
        "curated": sha256_tree(curated),
        "images": _images_digest(images, [str(f) for f in kept["file_name"]]),
        "flags": sha256_tree(flags) if flags is not None else None,
        "clicks": sha256_tree(clicks) if clicks is not None else None,
        "predictions": sha256_tree(predictions) if predictions is not None else None,
        "decisions": sha256_file(decisions) if decisions is not None else None,
    }
    ds.info = {
        **(ds.info or {}),
        MARKER: {
            "curated": str(curated.resolve()),
            "images": str(images.resolve()),
            "media_dir": str(media),
            "inputs": inputs,
        },
    }
    ds.save()

    result = BuildResult(
        name=name,
        samples=len(ds),
        added=len(new_samples),
        updated=updated,
        deleted=len(stale),
        fields=sorted(ds.get_field_schema().keys()),
        views=views,
        media_dir=media,
        inputs=inputs,
    )
    if receipt is not None:
        write_json(receipt, stage_json("review build", result.receipt()))  # its key marks the file as ours
    return result


def _keep_label_tags(old: Any, new: Any) -> None:
    """Carry annotators' tags on persons (all but the build's ``flagged``) over to the new labels."""
    if old is None:
        return
    tags = {d["annotation_id"]: [t for t in d.tags if t not in BUILD_TAGS] for d in old.detections}
    for det in new.detections:
        extra = tags.get(det["annotation_id"])
        if extra:
            det.tags = sorted(set(det.tags) | set(extra))


def _declare_fields(fo: Any, ds: Any, with_clicks: bool, with_predictions: bool) -> None:
    """Declare the scalar fields up front, so fields that are None everywhere still have a type."""
    scalar = {
        "image_id": fo.IntField,
        "file_name": fo.StringField,
        "split": fo.StringField,
        "coverage": fo.FloatField,
        "n_persons": fo.IntField,
        "has_crowd": fo.BooleanField,
        "n_body_parts": fo.IntField,
        "body_part_flag": fo.BooleanField,
        "held_object_flag": fo.BooleanField,
        "n_flagged": fo.IntField,
        "max_coarseness": fo.FloatField,
        "image_problem": fo.StringField,
        "note": fo.StringField,
    }
    schema = ds.get_field_schema()
    for key, ftype in scalar.items():
        if key not in schema:
            ds.add_sample_field(key, ftype)
    for key in ("overlapping_categories", "held_objects", "problems"):
        if key not in schema:
            ds.add_sample_field(key, fo.ListField, subfield=fo.StringField)
    labels = {"persons": fo.Detections, "segmentation": fo.Segmentation}
    if with_clicks:
        labels["clicks"] = fo.Keypoints
    if with_predictions:
        labels["predictions"] = fo.Segmentation
        for key in PREDICTION_SCORES:
            if key not in schema:
                ds.add_sample_field(key, fo.FloatField)
    for key, cls in labels.items():
        if key not in schema:
            ds.add_sample_field(key, fo.EmbeddedDocumentField, embedded_doc_type=cls)


def _seed_decisions(ds: Any, seeds: dict[int, tuple[str, str]]) -> None:
    """Give samples without a decision tag the decision (and note) recorded in a decisions CSV."""
    from fiftyone import ViewField as F

    view = ds.match(F("image_id").is_in(sorted(seeds))).match_tags(list(DECISION_TAGS), bool=False)
    for sample in view.iter_samples(autosave=True, progress=False):
        decision, note = seeds[int(sample["image_id"])]
        sample.tags = sorted(set(sample.tags) | {decision})
        if note and not sample["note"]:
            sample["note"] = note


def _set_colors(fo: Any, ds: Any) -> None:
    """App colours: positive clicks green, negative clicks red, person masks blue, predictions orange."""
    try:
        ds.app_config.color_scheme = fo.ColorScheme(
            color_by="value",
            multicolor_keypoints=False,
            opacity=0.55,
            fields=[
                {
                    "path": "clicks",
                    "fieldColor": "#22c55e",
                    "colorByAttribute": "label",
                    "valueColors": [
                        {"value": "positive", "color": "#22c55e"},
                        {"value": "negative", "color": "#ef4444"},
                    ],
                },
                {
                    "path": "persons",
                    "fieldColor": "#38bdf8",
                    "colorByAttribute": "label",
                    "valueColors": [{"value": "person", "color": "#38bdf8"}],
                },
                {
                    "path": "segmentation",
                    "fieldColor": "#a855f7",
                    "maskTargetsColors": [{"intTarget": PERSON_VALUE, "color": "#a855f7"}],
                },
                {
                    "path": "predictions",
                    "fieldColor": "#f97316",
                    "maskTargetsColors": [{"intTarget": PERSON_VALUE, "color": "#f97316"}],
                },
            ],
        )
    except Exception:  # noqa: BLE001 - colours are cosmetic; never fail a build on them
        return
