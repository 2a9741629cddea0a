"""The ``flag`` stage: score every non-crowd person annotation of the curated splits.

Outputs (written as one directory, atomically):

- ``flags.parquet``: one row per person annotation, sorted by ``annotation_id``:
  ``annotation_id, image_id, split, file_name, coarseness, flagged, reasons, image_ok`` and every
  signal (``SIGNAL_COLUMNS``); ``reasons`` is a ``;``-joined string (see ``score.py``);
- ``images.parquet``: one row per curated image, sorted by ``image_id``: ``image_id, split,
  file_name, n_persons, n_flagged, max_coarseness, image_problem``;
- ``summary.json``: counts, fraction flagged, threshold, reason counts.

Every person is scored against the *other* annotations of its image (any category, crowd regions
included: the split files carry them all): an outline along an occluder is not evidence of
coarseness (``occlusion.py``). Work is parallel over images (``workers`` processes); every row
depends only on its own image and its annotations, so outputs are byte-identical for any number of workers.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from portraitkit.curate.outputs import SPLITS, read_split
from portraitkit.errors import UserError
from portraitkit.params.flag import FlagParams

SIGNAL_COLUMNS = (
    "n_parts",
    "n_vertices",
    "perimeter",
    "area",
    "vertex_density",
    "longest_edge_rel",
    "vertex_spacing_rel",
    "hull_gap",
    "edge_alignment",
    "edge_contrast",
    "off_edge_frac",
    "chord_rel",
    "refine_iou",
    "refine_biou",
)
SIGNAL_DECIMALS = 6
REFINE_KEYS = ("refine_iou", "refine_biou")
ROW_COLUMNS = ("annotation_id", "image_id", "split", "file_name", "coarseness", "flagged", "reasons", "image_ok") + SIGNAL_COLUMNS


def score_annotation(bgr: np.ndarray | None, ann: dict[str, Any], width: int, height: int, params: FlagParams,
                     image_notes: Iterable[str] = (), others: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    """Signals, coarseness, flagged and reasons of one annotation (``bgr`` None: no image signals).

    ``others``: the annotations of the same image (any category; ``ann`` itself is skipped), the
    occluders an outline may run along.
    """
    from portraitkit.curate.coarseness.image_signals import IMAGE_SIGNAL_KEYS, image_signals
    from portraitkit.curate.coarseness.occlusion import contact_for
    from portraitkit.curate.coarseness.polygon_signals import polygon_signals
    from portraitkit.curate.coarseness.score import decided_without, score

    notes = list(image_notes)
    info = polygon_signals(ann, height, width, contact_for(ann, others, height, width, params.occluder_px))
    notes.extend(info.notes)
    signals = dict(info.signals)
    img_sig = {k: float("nan") for k in IMAGE_SIGNAL_KEYS}
    if bgr is not None:
        def decided(part: dict[str, float]) -> bool:  # GrabCut can be skipped: it would not change `flagged`
            return params.skip_decided_refine and decided_without(_rounded({**signals, **part}), notes, params, REFINE_KEYS)

        img_sig, img_notes = image_signals(bgr, ann, info, params, decided)
        notes.extend(img_notes)
    signals.update(img_sig)
    signals = _rounded(signals)
    coarseness, flagged, reasons, _ = score(signals, notes, params)
    row = {"coarseness": coarseness, "flagged": flagged, "reasons": reasons, "image_ok": bgr is not None}
    row.update({k: float(signals[k]) for k in SIGNAL_COLUMNS})
    return row


def _rounded(signals: dict[str, float]) -> dict[str, float]:
    # OpenCV's SIMD paths may differ in the last bits with memory alignment (seen: 1e-11 in
    # edge_alignment between processes); signals are rounded before scoring so outputs are
    # byte-identical whatever the worker count.
    return {k: (round(float(v), SIGNAL_DECIMALS) if math.isfinite(v) else float("nan")) for k, v in signals.items()}


def _score_image(job: dict[str, Any], params: FlagParams) -> list[dict[str, Any]]:
    """Rows of every person of one image. Never raises: failures become reasons."""
    from portraitkit.images import read_image

    width, height = job["width"], job["height"]
    bgr, notes = None, []
    if job["problem"]:
        notes = [job["problem"]]
    else:
        read = read_image(job["path"], width, height, order="BGR")
        bgr = read.bgr
        notes = [read.problem] if read.problem else list(read.notes)
    rows = []
    for ann in job["anns"]:
        base = {"annotation_id": int(ann["id"]), "image_id": int(job["image_id"]), "split": job["split"],
                "file_name": job["file_name"]}
        try:
            row = score_annotation(bgr, ann, width, height, params, notes, job.get("others", ()))
        except Exception as exc:  # noqa: BLE001 - one bad record must not stop the stage
            row = {"coarseness": float("nan"), "flagged": False,
                   "reasons": ";".join([*notes, scorer_error_reason(exc)]), "image_ok": bgr is not None}
            row.update({k: float("nan") for k in SIGNAL_COLUMNS})
        base.update(row)
        rows.append(base)
    return rows


SCORER_ERROR = "scorer_error"


def scorer_error_reason(exc: BaseException) -> str:
    """An explicit reason for a row the scorer failed on: a bug must not read as "not coarse"."""
    msg = " ".join(str(exc).replace(";", ",").split())[:200]
    return f"{SCORER_ERROR}: {type(exc).__name__}: {msg}"


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)


def _run_chunk(args: tuple[list[dict[str, Any]], FlagParams]) -> list[dict[str, Any]]:
    jobs, params = args
    out = []
    for job in jobs:
        out.extend(_score_image(job, params))
    return out


def load_jobs(curated: Path, images: Path, person_category_id: int) -> list[dict[str, Any]]:
    """One job per curated image (sorted by image_id): its file, size, split, person annotations (``anns``,
    the ones scored) and every annotation of the image (``others``, any category, crowd included: occluders)."""
    from portraitkit.io import safe_join

    curated = Path(curated)
    found = [s for s in SPLITS if (curated / f"{s}.json").exists()]
    if not found:
        raise UserError(f"{curated}: no train.json / val.json / test.json (did curate run?)")
    jobs: dict[int, dict[str, Any]] = {}
    for split in found:
        path = curated / f"{split}.json"
        coco = read_split(path)
        for img in coco["images"]:
            try:
                iid = int(img["id"])
                width, height = int(img["width"]), int(img["height"])
            except (KeyError, TypeError, ValueError):
                raise UserError(f"{path}: image {img.get('id')!r}: id/width/height missing or not integers") from None
            if iid in jobs:
                raise UserError(f"{path}: image {iid}: also in the {jobs[iid]['split']} split")
            problem, file_path = None, None
            try:
                file_path = str(safe_join(images, img.get("file_name"), context=f"{path}: image {iid}: file_name"))
            except UserError:
                problem = "image_file_name_invalid"
            if width <= 0 or height <= 0:
                problem = "image_size_invalid"
            jobs[iid] = {"image_id": iid, "split": split, "file_name": str(img.get("file_name")), "path": file_path,
                         "width": width, "height": height, "problem": problem, "anns": [], "others": []}
        for ann in coco["annotations"]:
            iid = ann.get("image_id")
            if iid in jobs and jobs[iid]["split"] == split and isinstance(ann.get("segmentation"), (list, dict)):
                jobs[iid]["others"].append(ann)  # a possible occluder (an unreadable one is skipped when rasterised)
            if ann.get("category_id") != person_category_id or ann.get("iscrowd", 0):
                continue
            if iid not in jobs or jobs[iid]["split"] != split:
                raise UserError(f"{path}: annotation {ann.get('id')!r}: image_id {iid!r} is not an image of this file")
            jobs[iid]["anns"].append(ann)
    for job in jobs.values():
        job["anns"].sort(key=lambda a: int(a["id"]))
        job["others"].sort(key=lambda a: (str(a.get("id")), str(a.get("category_id"))))
    return [jobs[k] for k in sorted(jobs)]


def score_jobs(jobs: list[dict[str, Any]], params: FlagParams, workers: int = 1,
               progress=None) -> pd.DataFrame:
    """Score every job; rows sorted by annotation_id whatever ``workers`` is."""
    from portraitkit.pool import ordered_map

    chunks = [(jobs[i : i + 4], params) for i in range(0, len(jobs), 4)]
    rows: list[dict[str, Any]] = []
    for part in ordered_map(_run_chunk, chunks, workers, initializer=_init_worker, progress=progress, desc="flag",
                            unit="chunk"):
        rows.extend(part)
    df = pd.DataFrame(rows, columns=list(ROW_COLUMNS))
    df = df.sort_values("annotation_id", kind="stable").reset_index(drop=True)
    return df.astype({"annotation_id": "int64", "image_id": "int64", "flagged": "bool", "image_ok": "bool"})


def image_summary(jobs: list[dict[str, Any]], flags: pd.DataFrame) -> pd.DataFrame:
    groups = {iid: g for iid, g in flags.groupby("image_id", sort=True)}
    rows = []
    for job in jobs:
        g = groups.get(job["image_id"])
        n = 0 if g is None else len(g)
        worst = float(g["coarseness"].max()) if n else float("nan")
        problem = job["problem"]
        if problem is None and n and not g["image_ok"].any():
            problem = str(g["reasons"].iloc[0]).split(";")[-1] or None
        rows.append({
            "image_id": job["image_id"], "split": job["split"], "file_name": job["file_name"], "n_persons": n,
            "n_flagged": 0 if g is None else int(g["flagged"].sum()), "max_coarseness": worst,
            "image_problem": problem or "",
        })
    return pd.DataFrame(rows, columns=["image_id", "split", "file_name", "n_persons", "n_flagged", "max_coarseness",
                                       "image_problem"])


def summarize(flags: pd.DataFrame, images_df: pd.DataFrame, params: FlagParams) -> dict[str, Any]:
    reason_counts: Counter = Counter()
    for r in flags["reasons"]:
        for item in filter(None, str(r).split(";")):
            reason_counts[item.split(":")[0]] += 1
    n = len(flags)
    nf = int(flags["flagged"].sum())
    per_split = {}
    for split in SPLITS:
        s = flags[flags["split"] == split]
        per_split[split] = {"persons": int(len(s)), "flagged": int(s["flagged"].sum())}
    return {
        "images": int(len(images_df)),
        "persons": n,
        "flagged": nf,
        "fraction_flagged": round(nf / n, 6) if n else 0.0,
        "threshold": params.threshold,
        "images_with_flagged": int((images_df["n_flagged"] > 0).sum()),
        "persons_without_image_signals": int((~flags["image_ok"]).sum()),
        "scorer_errors": int(flags["reasons"].astype(str).str.contains(SCORER_ERROR + ":", regex=False).sum()),
        "mean_coarseness": round(float(flags["coarseness"].mean()), 6) if n and flags["coarseness"].notna().any() else None,
        "splits": per_split,
        "reasons": dict(sorted(reason_counts.items())),
    }


def run_flag(curated: Path, images: Path, out: Path, params: FlagParams, person_category_id: int = 1,
             workers: int | None = None, progress=None) -> dict[str, Any]:
    """Run the stage; returns the summary written to ``out/summary.json``."""
    from portraitkit.io import write_json, write_parquet
    from portraitkit.outputs import check_output, stage_output

    check_output(out, "flag", [curated, images])  # before any work: never an input, never a user's folder

    images = Path(images)
    if not images.is_dir():
        raise UserError(f"{images}: images folder not found")
    jobs = load_jobs(Path(curated), images, person_category_id)
    check_images_present(jobs, images, Path(curated))
    flags = score_jobs(jobs, params, workers or params.workers, progress=progress)
    images_df = image_summary(jobs, flags)
    summary = summarize(flags, images_df, params)
    missing = [f"{s}.json" for s in SPLITS if not (Path(curated) / f"{s}.json").exists()]
    summary["warnings"] = (
        [f"{curated}: no {', '.join(missing)}: only the split files that exist were scored"] if missing else []
    )
    with stage_output(out, "flag", [curated, images]) as tmp:
        write_parquet(tmp / "flags.parquet", flags)
        write_parquet(tmp / "images.parquet", images_df)
        write_json(tmp / "summary.json", summary)
    return summary


def check_images_present(jobs: list[dict[str, Any]], images: Path, curated: Path) -> None:
    """An ``--images`` folder holding none of the curated photos is a user mistake, not "no image signals"."""
    paths = [job for job in jobs if job["path"] and not job["problem"]]
    for job in paths:
        try:
            if Path(job["path"]).is_file():
                return
        except (OSError, ValueError):  # a name the file system cannot hold
            continue
    if paths:
        raise UserError(
            f"{images}: none of the {len(paths)} image files of {curated} is in this folder "
            f"(e.g. {paths[0]['file_name'][:200]!r}): wrong --images folder?"
        )


def _finite(x: float) -> bool:
    return x is not None and math.isfinite(x)
