"""The ``augment`` stage: N realistic variants of every train image, with masks and clicks.

Inputs: ``--curated`` (``train.json``, optional ``masks/<image_id>.png``),
``--images`` (photos by ``file_name``), optional ``--clicks`` (``clicks.parquet``).

Output folder (built inside ``stage_output``; see ``README.md`` written into it):

* ``images/<image_id>_<variant>.jpg``: the augmented photo (RGB; PNG with ``image_format: png``).
* ``masks/<image_id>_<variant>.png``: single channel, **0 = background, 1 = person,
  255 = ignore** (``mask_ignore_value``: borders that came from padding; reflected
  photo content in the image, neither person nor background). Use it as is with
  ``CrossEntropyLoss(ignore_index=255)``. (It looks black in a viewer: values 0/1.)
* ``variants.parquet``: one row per variant with the seed, the realism attempts and
  ``transforms``: JSON of the exact transforms and parameters applied, replayable with
  :func:`augment.pipeline.replay`.
* ``clicks.parquet`` (with ``--clicks``): the click sets moved with the geometry, one row
  per (input click set, variant), with ``dropped_outside`` (left the frame or landed on
  padding) and ``dropped_wrong_side`` (a positive off its person or a negative on it).
* ``preview.png``: originals beside their variants, person outline in green, padding
  tinted magenta, positive clicks green dots, negative clicks red dots.
* ``summary.json`` (counts, params) and ``log.txt`` (every skipped image and dropped
  variant with its reason, and notes on unusual image modes).

Determinism: variant ``v`` of image ``i`` uses seed ``[seed, SALT, i, v]`` (+ attempt), so
outputs are byte-identical whatever the order or ``--workers``.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np
import pandas as pd

from portraitkit.augment.pipeline import Augmenter, Click
from portraitkit.curate.masks import ann_to_mask, union_mask
from portraitkit.curate.outputs import read_split
from portraitkit.cli_common import progress
from portraitkit.errors import UserError
from portraitkit.images import read_image
from portraitkit.outputs import check_output, stage_output
from portraitkit.io import atomic_path, read_parquet, safe_join, write_json, write_parquet
from portraitkit.params.augment import AugmentParams
from portraitkit.params.base import data_dump

SALT = zlib.crc32(b"portraitkit.augment")

CLICK_COLUMNS = ["annotation_id", "image_id", "split", "strategy", "set_index", "positives", "negatives"]


@dataclass
class Task:
    image_id: int
    file_name: str
    width: int
    height: int
    anns: list[dict[str, Any]]  # person annotations
    click_sets: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TaskResult:
    image_id: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    click_rows: list[dict[str, Any]] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    skipped: str | None = None
    unrealistic: int = 0
    redraws: int = 0
    rejection_kinds: Counter = field(default_factory=Counter)
    applied: Counter = field(default_factory=Counter)
    clicks_in: int = 0
    clicks_kept: int = 0
    clicks_outside: int = 0
    clicks_wrong_side: int = 0


# --------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------


def load_tasks(curated: Path, clicks_dir: Path | None, person_id: int) -> tuple[list[Task], list[str]]:
    train_json = curated / "train.json"
    coco = read_split(train_json)
    anns_by_image: dict[int, list[dict[str, Any]]] = {}
    for a in coco["annotations"]:
        if a.get("category_id") == person_id:
            anns_by_image.setdefault(int(a["image_id"]), []).append(a)
    tasks = []
    for i, img in enumerate(coco["images"]):
        for key in ("id", "file_name", "width", "height"):
            if key not in img:
                raise UserError(f"{train_json}: images[{i}]: {key}: missing")
        iid = int(img["id"])
        tasks.append(Task(iid, img["file_name"], int(img["width"]), int(img["height"]), anns_by_image.get(iid, [])))
    tasks.sort(key=lambda t: t.image_id)

    log: list[str] = []
    if clicks_dir is not None:
        path = clicks_dir / "clicks.parquet"
        df = read_parquet(path)
        missing = [c for c in CLICK_COLUMNS if c not in df.columns]
        if missing:
            raise UserError(f"{path}: columns: missing {', '.join(missing)}")
        by_id = {t.image_id: t for t in tasks}
        df = df.sort_values(["image_id", "annotation_id", "strategy", "set_index"], kind="stable")
        n_other = 0
        for row in df.itertuples(index=False):
            t = by_id.get(int(row.image_id))
            if t is None:
                n_other += 1  # val/test images, or images curate no longer keeps
                continue
            t.click_sets.append(
                {
                    "annotation_id": int(row.annotation_id),
                    "split": row.split,
                    "strategy": row.strategy,
                    "set_index": int(row.set_index),
                    "positives": [[float(x), float(y)] for x, y in _pairs(row.positives)],
                    "negatives": [[float(x), float(y)] for x, y in _pairs(row.negatives)],
                }
            )
        if n_other:
            log.append(f"clicks: {n_other} click sets are not on train images of {curated.name}: not augmented")
    return tasks, log


def _pairs(value: Any) -> list[tuple[float, float]]:
    if value is None:
        return []
    return [(p[0], p[1]) for p in list(value)]


# --------------------------------------------------------------------------------------
# One image
# --------------------------------------------------------------------------------------

_CTX: dict[str, Any] = {}


def _init_worker(params_json: str, seed: int, curated: str, images: str, out: str) -> None:
    params = AugmentParams.model_validate_json(params_json)
    _CTX.update(
        params=params, seed=seed, curated=Path(curated), images=Path(images), out=Path(out), aug=Augmenter(params)
    )


def _encode_image(rgb: np.ndarray, fmt: str, quality: int) -> bytes:
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if fmt == "jpg":
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    else:
        ok, buf = cv2.imencode(".png", bgr)
    if not ok:
        raise RuntimeError("image encoding failed")
    return buf.tobytes()


def _load_pair(task: Task, res: TaskResult) -> tuple[np.ndarray, np.ndarray] | None:
    curated: Path = _CTX["curated"]
    images: Path = _CTX["images"]
    where = f"image {task.image_id} ({task.file_name})"
    try:
        path = safe_join(images, task.file_name, context=f"{curated / 'train.json'}: image {task.image_id}")
    except UserError as exc:
        res.skipped = f"{where}: skipped: {exc}"
        return None
    dec = read_image(path, task.width, task.height)  # the pixels in the frame the annotations were drawn in
    if dec.rgb is None:
        res.skipped = f"{where}: skipped: cannot read image: {dec.problem}"
        return None
    mask_path = curated / "masks" / f"{task.image_id}.png"
    if mask_path.is_file():
        mask = _read_mask(mask_path)
        if mask is None:
            res.skipped = f"{where}: skipped: cannot decode mask {mask_path}"
            return None
        if mask.shape != (task.height, task.width):
            res.skipped = (
                f"{where}: skipped: mask {mask_path.name} is {mask.shape[1]}x{mask.shape[0]}, "
                f"COCO says {task.width}x{task.height}"
            )
            return None
    else:
        mask = union_mask(task.anns, task.height, task.width)
    for note in dec.notes:
        res.log.append(f"{where}: note: {note}")
    return dec.rgb, mask


def _read_mask(path: Path) -> np.ndarray | None:
    """A stored person mask PNG (0/255 or 0/1) as uint8 0/1, or None when it cannot be decoded."""
    m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if m is None:
        return None
    return (m > (127 if m.max(initial=0) > 1 else 0)).astype(np.uint8)


def process(task: Task) -> TaskResult:
    params: AugmentParams = _CTX["params"]
    aug: Augmenter = _CTX["aug"]
    out: Path = _CTX["out"]
    res = TaskResult(task.image_id)
    pair = _load_pair(task, res)
    if pair is None:
        return res
    rgb, mask = pair
    where = f"image {task.image_id} ({task.file_name})"

    # clicks: one flat list, each click judged against its own person's mask
    inst_ids: list[int] = []
    inst_masks: list[np.ndarray] = []
    clicks: list[Click] = []
    owners: list[tuple[int, bool, int]] = []  # (click set index, positive, index in its list)
    anns_by_id = {int(a["id"]): a for a in task.anns if "id" in a}
    for si, cs in enumerate(task.click_sets):
        aid = cs["annotation_id"]
        if aid in anns_by_id:
            if aid not in inst_ids:
                inst_ids.append(aid)
                inst_masks.append(ann_to_mask(anns_by_id[aid], task.height, task.width))
            inst = inst_ids.index(aid)
        else:
            res.log.append(f"{where}: note: clicks of annotation {aid} not in train.json: judged on the union mask")
            inst = -1
        for sign, key in ((True, "positives"), (False, "negatives")):
            for k, (x, y) in enumerate(cs[key]):
                clicks.append(Click(x, y, sign, inst))
                owners.append((si, sign, k))

    for v in range(params.variants):
        seed = [_CTX["seed"], SALT, task.image_id, v]
        r = aug(rgb, mask, seed=seed, clicks=clicks, instance_masks=inst_masks)
        res.redraws += r.attempts - 1
        for reason in r.rejections:
            for part in reason.split(": ", 1)[1].split("; "):
                res.rejection_kinds[part.split(" (")[0]] += 1
        if not r.passed:
            res.unrealistic += 1
            res.log.append(
                f"{where}: variant {v}: dropped: no realistic result in {r.attempts} attempts ({r.rejections[-1]})"
            )
            continue
        stem = f"{task.image_id}_{v}"
        image_file = f"images/{stem}.{params.image_format}"
        mask_file = f"masks/{stem}.png"
        (out / image_file).write_bytes(_encode_image(r.image, params.image_format, params.jpeg_quality))
        ok, buf = cv2.imencode(".png", r.mask)
        (out / mask_file).write_bytes(buf.tobytes())
        for name in r.applied_names():
            res.applied[name] += 1

        kept_by_set: dict[int, dict[str, list[list[int]]]] = {}
        drop_out: Counter = Counter()
        drop_wrong: Counter = Counter()
        for i, c in r.clicks:
            si, sign, _ = owners[i]
            kept_by_set.setdefault(si, {"positives": [], "negatives": []})[
                "positives" if sign else "negatives"
            ].append([int(c.x), int(c.y)])
        for i in r.dropped_outside:
            drop_out[owners[i][0]] += 1
        for i in r.dropped_wrong_side:
            drop_wrong[owners[i][0]] += 1
        for si, cs in enumerate(task.click_sets):
            kept = kept_by_set.get(si, {"positives": [], "negatives": []})
            res.click_rows.append(
                {
                    "annotation_id": cs["annotation_id"],
                    "image_id": task.image_id,
                    "variant": v,
                    "split": cs["split"],
                    "strategy": cs["strategy"],
                    "set_index": cs["set_index"],
                    "positives": kept["positives"],
                    "negatives": kept["negatives"],
                    "dropped_outside": int(drop_out[si]),
                    "dropped_wrong_side": int(drop_wrong[si]),
                }
            )
        res.clicks_in += len(clicks)
        res.clicks_kept += len(r.clicks)
        res.clicks_outside += len(r.dropped_outside)
        res.clicks_wrong_side += len(r.dropped_wrong_side)

        n = r.mask.size
        res.rows.append(
            {
                "image_id": task.image_id,
                "variant": v,
                "image_file": image_file,
                "mask_file": mask_file,
                "source_file": task.file_name,
                "width": int(r.image.shape[1]),
                "height": int(r.image.shape[0]),
                "seed": [int(s) for s in seed],
                "attempts": r.attempts,
                "rejections": list(r.rejections),
                "transforms": json.dumps(r.applied_json(), separators=(",", ":")),
                "applied": r.applied_names(),
                "person_fraction": float(np.count_nonzero(r.mask == 1)) / n,
                "ignore_fraction": float(np.count_nonzero(r.mask == params.mask_ignore_value)) / n,
                "clicks_kept": len(r.clicks),
                "clicks_dropped_outside": len(r.dropped_outside),
                "clicks_dropped_wrong_side": len(r.dropped_wrong_side),
            }
        )
    return res


# --------------------------------------------------------------------------------------
# The stage
# --------------------------------------------------------------------------------------

README = """# Augmented train images (portraitkit augment)

- `images/<image_id>_<variant>.{ext}`: augmented photo, RGB.
- `masks/<image_id>_<variant>.png`: one channel, **0 = background, 1 = person, {ignore} = ignore**.
  Ignore marks borders that come from padding (tilt, zoom-out, shift): the photo there is a
  reflection of itself (`image_border: {border}`), neither person nor background; train with
  `ignore_index={ignore}`. The file looks black in an image viewer (values 0/1).
- `variants.parquet`: one row per variant; `transforms` is JSON of the exact transforms and
  parameters applied (`augment.pipeline.replay(row, image, mask, params)` reproduces the
  variant from the original image and mask); `seed` is the seed of the accepted draw
  (`attempt` = `attempts - 1` is appended), `rejections` the realism failures redrawn.
- `clicks.parquet` (when clicks were given): click sets moved with the geometry, pixel
  coordinates `[x, y]` (x = column); `dropped_outside` / `dropped_wrong_side` count the
  clicks removed because they left the photo or landed on the wrong side of their person.
- `preview.png`: originals (left) beside their variants; green outline = person mask,
  magenta tint = ignore, green / red dots = positive / negative clicks.
- `summary.json`, `log.txt`: counts, params, and every skipped image or dropped variant
  with its reason.
"""

VARIANT_COLUMNS = [
    "image_id", "variant", "image_file", "mask_file", "source_file", "width", "height", "seed", "attempts",
    "rejections", "transforms", "applied", "person_fraction", "ignore_fraction", "clicks_kept",
    "clicks_dropped_outside", "clicks_dropped_wrong_side",
]
CLICK_OUT_COLUMNS = [
    "annotation_id", "image_id", "variant", "split", "strategy", "set_index", "positives", "negatives",
    "dropped_outside", "dropped_wrong_side",
]


def _run_tasks(tasks: list[Task], workers: int, init_args: tuple) -> Iterator[TaskResult]:
    from portraitkit.pool import ordered_map

    yield from ordered_map(process, tasks, workers, initializer=_init_worker, initargs=init_args, chunksize=2)


def run_augment(
    curated: Path,
    images: Path,
    out: Path,
    params: AugmentParams,
    seed: int,
    clicks: Path | None = None,
    person_category_id: int = 1,
) -> dict[str, Any]:
    """Run the stage; returns the summary (also written to ``out/summary.json``)."""
    curated, images, out = Path(curated), Path(images), Path(out)
    inputs = [curated, images, clicks]
    check_output(out, "augment", inputs)  # before any work: never an input, never a user's folder
    if not (curated / "train.json").is_file():
        raise UserError(f"{curated / 'train.json'}: file not found (run the curate stage first)")
    if not images.is_dir():
        raise UserError(f"{images}: images folder not found")
    if clicks is not None and not (Path(clicks) / "clicks.parquet").is_file():
        raise UserError(f"{Path(clicks) / 'clicks.parquet'}: file not found (run the clicks stage first)")
    tasks, log = load_tasks(curated, Path(clicks) if clicks is not None else None, person_category_id)

    with stage_output(out, "augment", inputs) as tmp:
        (tmp / "images").mkdir()
        (tmp / "masks").mkdir()
        init_args = (params.model_dump_json(), seed, str(curated), str(images), str(tmp))
        results: list[TaskResult] = []
        for r in progress(_run_tasks(tasks, params.workers, init_args), "augmenting", total=len(tasks), unit="img"):
            results.append(r)

        rows = [row for r in results for row in r.rows]
        click_rows = [row for r in results for row in r.click_rows]
        for r in results:
            if r.skipped:
                log.append(r.skipped)
            log.extend(r.log)
        variants = pd.DataFrame(rows, columns=VARIANT_COLUMNS)
        write_parquet(tmp / "variants.parquet", variants)
        if clicks is not None:
            write_parquet(tmp / "clicks.parquet", pd.DataFrame(click_rows, columns=CLICK_OUT_COLUMNS))

        from portraitkit.augment.preview import render_preview

        if not _CTX:
            _init_worker(*init_args)
        preview_ok = render_preview(tmp, images, curated, variants, click_rows, params, tasks, results)

        applied: Counter = Counter()
        kinds: Counter = Counter()
        for r in results:
            applied.update(r.applied)
            kinds.update(r.rejection_kinds)
        n_var = len(rows)
        op_names = Augmenter(params).op_names
        summary = {
            "seed": seed,
            "salt": SALT,
            "images_in": len(tasks),
            "images_augmented": sum(1 for r in results if not r.skipped),
            "images_skipped": sum(1 for r in results if r.skipped),
            "variants_per_image": params.variants,
            "variants_written": n_var,
            "variants_dropped_unrealistic": sum(r.unrealistic for r in results),
            "realism_redraws": sum(r.redraws for r in results),
            "realism_rejections_by_reason": dict(sorted(kinds.items())),
            "transforms_applied": {name: applied.get(name, 0) for name in op_names},
            "transforms_applied_fraction": {
                name: round(applied.get(name, 0) / n_var, 4) if n_var else 0.0 for name in op_names
            },
            "clicks": {
                "given": clicks is not None,
                "in": sum(r.clicks_in for r in results),
                "kept": sum(r.clicks_kept for r in results),
                "dropped_outside": sum(r.clicks_outside for r in results),
                "dropped_wrong_side": sum(r.clicks_wrong_side for r in results),
            },
            "mask_values": {"background": 0, "person": 1, "ignore": params.mask_ignore_value},
            "preview": preview_ok,
            # workers left out: outputs never depend on it, and neither does this file
            "params": data_dump(params),  # execution settings (workers) left out
        }
        write_json(tmp / "summary.json", summary)
        with atomic_path(tmp / "log.txt") as p:
            p.write_text("".join(line + "\n" for line in log), encoding="utf-8")
        with atomic_path(tmp / "README.md") as p:
            p.write_text(
                README.format(ignore=params.mask_ignore_value, border=params.image_border, ext=params.image_format), encoding="utf-8"
            )
    return summary
