"""The curate stage: from a COCO instances file to a versioned portrait subset.

Outputs (all inside ``out``, swapped in atomically):
- ``manifest.parquet``: one row per source image with its measurements, ``kept``, ``reason``, ``split``;
- ``train.json`` / ``val.json`` / ``test.json``: COCO files of the kept images with all their annotations;
- ``funnel.json``: image counts after each rule, in rule order;
- ``identity.json``: params, their digest and the input files' hashes;
- ``masks/<image_id>.png``: union person mask (0/255) of each kept image, with ``write_masks``.
"""

from __future__ import annotations

import gc
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
from pycocotools import mask as mask_utils

import portraitkit
from portraitkit.curate.coco import CocoIndex, load_coco, load_num_keypoints
from portraitkit.curate.reviews import read_decisions
from portraitkit.curate.rules import REASONS, PersonMeasure, count_reason, measure_persons, overlapping_categories
from portraitkit.curate.split import SPLITS, assign_split
from portraitkit.curate.validate import valid_side
from portraitkit.cli_common import progress
from portraitkit.errors import UserError
from portraitkit.outputs import check_output, stage_output
from portraitkit.io import atomic_path, sha256_file, write_json, write_parquet, write_png
from portraitkit.params import CurateParams
from portraitkit.params.base import data_dump

MANIFEST_SCHEMA = pa.schema(
    [
        ("image_id", pa.int64()),
        ("file_name", pa.string()),
        ("width", pa.int64()),
        ("height", pa.int64()),
        ("n_persons", pa.int64()),
        ("has_crowd", pa.bool_()),
        ("coverage", pa.float64()),
        ("kept", pa.bool_()),
        ("reason", pa.string()),
        ("split", pa.string()),
        ("problems", pa.list_(pa.string())),
        ("n_annotations", pa.int64()),
        ("n_body_parts", pa.int64()),
        ("n_persons_without_keypoints", pa.int64()),
        ("body_part_flag", pa.bool_()),
        ("overlapping_categories", pa.list_(pa.string())),
        ("held_objects", pa.list_(pa.string())),
        ("held_object_flag", pa.bool_()),
        ("review_decision", pa.string()),
    ]
)


@dataclass
class CurateResult:
    manifest: pd.DataFrame
    funnel: list[dict[str, Any]]
    unknown_review_ids: list[int]
    warnings: list[str] = field(default_factory=list)


def _measure_chunk(args: tuple[list[tuple[int, int, int, list[dict[str, Any]]]], int]) -> list[tuple[int, int, bool, float]]:
    jobs, person_id = args
    out = []
    for iid, h, w, persons in jobs:
        m = measure_persons(persons, h, w, person_id)
        out.append((iid, m.n_persons, m.has_crowd, m.coverage))
    return out


def _measure_all(
    jobs: list[tuple[int, int, int, list[dict[str, Any]]]], person_id: int, workers: int
) -> dict[int, tuple[int, bool, float]]:
    """Person count, crowd and coverage for every job; identical for any number of workers."""
    from portraitkit.pool import ordered_map

    chunk = max(64, len(jobs) // (8 * max(workers, 1)) + 1)
    chunks = [(jobs[i : i + chunk], person_id) for i in range(0, len(jobs), chunk)]
    results: dict[int, tuple[int, bool, float]] = {}
    for part in ordered_map(_measure_chunk, chunks, workers, progress=progress, desc="measuring persons", unit="chunk"):
        for iid, n, crowd, cov in part:
            results[iid] = (n, crowd, cov)
    return results


def check_images_folder(root: Path, images: list[dict[str, Any]], problems: dict[int, list[str]]) -> None:
    """Quarantine images whose file is missing; a folder holding none of them is a user mistake."""
    if not root.is_dir():
        raise UserError(f"{root}: images folder not found")
    checked = found = 0
    for img in images:
        if img["id"] in problems:
            continue
        checked += 1
        try:
            exists = (root / img["file_name"]).is_file()
        except (OSError, ValueError):  # a name the file system cannot hold
            exists = False
        found += exists
        if not exists:
            problems[img["id"]] = [f"image {img['id']}: field 'file_name': {img['file_name']!r} not found in {root}"]
    if checked and not found:
        example = next(img["file_name"] for img in images if img["id"] in problems)
        raise UserError(
            f"{root}: none of the {checked} image file names of the annotations is in this folder "
            f"(e.g. {example!r}): wrong --images folder?"
        )


def params_digest(seed: int, params: CurateParams) -> str:
    canonical = json.dumps({"seed": seed, "curate": data_dump(params)}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _coco_subset(coco: CocoIndex, image_ids: list[int], anns_by_image: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    wanted = set(image_ids)
    images = sorted((img for img in coco.images if img["id"] in wanted), key=lambda r: r["id"])
    out: dict[str, Any] = {}
    if "info" in coco.top:
        out["info"] = coco.top["info"]
    out["licenses"] = coco.top.get("licenses", [])
    out["images"] = images
    out["annotations"] = [a for iid in sorted(wanted) for a in anns_by_image.get(iid, [])]
    out["categories"] = coco.top["categories"]
    return out


def _write_coco(path: Path, data: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(orjson.dumps(data) + b"\n")


def run_curate(*args: Any, **kwargs: Any) -> CurateResult:
    """Run the curate rules on a COCO file and write the subset to ``out`` (see module docstring)."""
    # A COCO file parses into tens of millions of small objects, none of them cyclic:
    # the cyclic garbage collector would rescan them all again and again for nothing.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _run_curate(*args, **kwargs)
    finally:
        if was_enabled:
            gc.enable()


def _run_curate(
    annotations: str | Path,
    out: str | Path,
    params: CurateParams,
    seed: int,
    keypoints: str | Path | None = None,
    reviews: str | Path | None = None,
    images_dir: str | Path | None = None,
    write_masks: bool = False,
    workers: int | None = None,
) -> CurateResult:
    inputs = [annotations, keypoints, reviews, images_dir]
    check_output(out, "curate", inputs)  # before any work: never the inputs, never a user's folder
    person_id = params.person_category_id
    coco = load_coco(annotations, person_id)
    num_kp = load_num_keypoints(keypoints, person_id) if keypoints else None
    decisions = read_decisions(reviews) if reviews else {}
    workers = workers or params.workers
    names = {cid: str(cat.get("name", cid)) for cid, cat in coco.categories.items()}
    held_names = set(params.held_object_categories)
    warnings = []
    unmatched = sorted(held_names - set(names.values()))
    if unmatched and params.held_object_policy != "keep":
        available = ", ".join(sorted(set(names.values()))[:100])
        warnings.append(
            f"warning: curate.held_object_categories: {', '.join(map(repr, unmatched))} match no category name "
            f"of {annotations} (names are case-sensitive); its categories: {available}"
        )
    if num_kp is not None:
        person_ids = {a["id"] for anns in coco.persons_by_image.values() for a in anns}
        if person_ids and not person_ids & num_kp.keys():
            raise UserError(
                f"{keypoints}: none of its {len(num_kp)} person annotation ids is a person annotation of "
                f"{annotations}: a keypoints file of another dataset? (the body-part rule needs the matching file)"
            )

    images = sorted(coco.images, key=lambda r: r["id"])
    problems: dict[int, list[str]] = {iid: list(p) for iid, p in coco.problems.items()}
    if images_dir is not None:
        check_images_folder(Path(images_dir), images, problems)

    jobs = [
        (img["id"], img["height"], img["width"], coco.persons_by_image.get(img["id"], []))
        for img in images
        if img["id"] not in problems
    ]
    measures = _measure_all(jobs, person_id, workers)

    rows = []
    for img in progress(images, "applying rules", unit="img"):
        iid = img["id"]
        all_persons = coco.persons_by_image.get(iid, [])
        persons = [a for a in all_persons if not a["iscrowd"]]
        row: dict[str, Any] = {
            "image_id": iid,
            "file_name": img.get("file_name") if isinstance(img.get("file_name"), str) else None,
            "width": img.get("width") if valid_side(img.get("width")) else None,
            "height": img.get("height") if valid_side(img.get("height")) else None,
            "n_persons": len(persons),
            "has_crowd": len(persons) < len(all_persons),
            "coverage": float("nan"),
            "kept": False,
            "reason": "",
            "split": "",
            "problems": problems.get(iid, []),
            "n_annotations": coco.n_annotations.get(iid, 0),
            "n_body_parts": 0,
            "n_persons_without_keypoints": 0,
            "body_part_flag": False,
            "overlapping_categories": None,
            "held_objects": None,
            "held_object_flag": False,
            "review_decision": decisions.get(iid, ""),
        }
        if num_kp is not None:
            row["n_body_parts"] = sum(1 for a in persons if num_kp.get(a["id"]) == 0)
            row["n_persons_without_keypoints"] = sum(1 for a in persons if a["id"] not in num_kp)
        rows.append(row)
        if iid in problems:
            row["reason"] = "invalid"
            continue
        n, crowd, cov = measures[iid]
        row.update(n_persons=n, has_crowd=crowd, coverage=cov)
        reason = count_reason(PersonMeasure(n, crowd, cov), params)
        if not reason and row["n_body_parts"] > 0 and params.body_part_policy != "keep":
            if params.body_part_policy == "drop":
                reason = "body_part_only"
            else:
                row["body_part_flag"] = True
        row["reason"] = reason

    # Images still in the running need their full annotation records: the object-overlap
    # rule reads every category, and the split files carry the records unchanged.
    by_id = {img["id"]: img for img in images}
    candidates = {row["image_id"] for row in rows if not row["reason"]}
    full = coco.annotations_of(candidates)
    coco.release()
    unions: dict[int, dict[str, Any] | None] = {}  # kept images reuse them for their mask files
    for row in progress(rows, "checking held objects", unit="img"):
        iid = row["image_id"]
        if iid not in candidates:
            continue
        img = by_id[iid]
        anns = full.get(iid, [])
        union = measure_persons(coco.persons_by_image.get(iid, []), img["height"], img["width"], person_id).union_rle
        unions[iid] = union
        overlap = overlapping_categories(
            anns, union, img["height"], img["width"], person_id, names, params.held_object_touch_px
        )
        row["overlapping_categories"] = overlap
        row["held_objects"] = [c for c in overlap if c in held_names]
        reason = ""
        if row["held_objects"] and params.held_object_policy != "keep":
            if params.held_object_policy == "drop":
                reason = "held_object"
            else:
                row["held_object_flag"] = True
        if not reason and decisions.get(iid) == "reject":
            reason = "rejected_in_review"
        row["reason"] = reason
        if not reason:
            row["kept"] = True
            row["split"] = assign_split(seed, iid, params.split.model_dump())

    manifest = pd.DataFrame(rows, columns=MANIFEST_SCHEMA.names)
    funnel = [{"rule": "source", "dropped": 0, "remaining": len(manifest)}]
    remaining = len(manifest)
    for reason in REASONS:
        dropped = int((manifest["reason"] == reason).sum())
        remaining -= dropped
        funnel.append({"rule": reason, "dropped": dropped, "remaining": remaining})
    known = set(manifest["image_id"])
    unknown_reviews = sorted(i for i in decisions if i not in known)

    identity = {
        "tool": f"portraitkit {portraitkit.__version__}",
        "params": {"seed": seed, "curate": data_dump(params)},  # execution settings (workers) left out
        "params_digest": params_digest(seed, params),
        "inputs": {
            name: {"path": str(p), "sha256": sha256_file(p)}
            for name, p in (("annotations", annotations), ("keypoints", keypoints), ("reviews", reviews))
            if p is not None
        },
        "unknown_review_image_ids": unknown_reviews,
    }

    kept = manifest[manifest["kept"]]
    with stage_output(out, "curate", inputs) as tmp:
        write_parquet(tmp / "manifest.parquet", manifest, schema=MANIFEST_SCHEMA)
        for split in SPLITS:
            ids = kept.loc[kept["split"] == split, "image_id"].tolist()
            _write_coco(tmp / f"{split}.json", _coco_subset(coco, ids, full))
        write_json(tmp / "funnel.json", funnel)
        write_json(tmp / "identity.json", identity)
        if write_masks:
            for iid in progress(kept["image_id"].tolist(), "writing masks", unit="mask"):
                mask = mask_utils.decode(unions[iid]).astype(np.uint8) * 255
                write_png(tmp / "masks" / f"{iid}.png", mask)
    return CurateResult(manifest=manifest, funnel=funnel, unknown_review_ids=unknown_reviews, warnings=warnings)


def summary_line(result: CurateResult) -> str:
    m = result.manifest
    kept = m[m["kept"]]
    splits = ", ".join(f"{s} {int((kept['split'] == s).sum())}" for s in SPLITS)
    dropped = ", ".join(f"{f['rule']} {f['dropped']}" for f in result.funnel[1:] if f["dropped"])
    return f"curate: {len(m)} source images -> {len(kept)} kept ({splits}); dropped: {dropped or 'none'}"
