"""The train stage: fit one segmenter from scratch on curate's train split, pick the best by val IoU.

Data: curate's kept train images (``train.json``) with their person masks (``masks/<id>.png``,
else rasterised from the COCO polygons), letterboxed to ``input_size``; padding is 255 and left
out of the loss. ``--augmented``: also the augment stage's variants of those train images (their
255 pixels ignored too). ``--flags``: the flag stage's verdicts feed ``coarse_policy`` (keep, drop
the images with a flagged person, or ignore a band around each flagged person's outline).
Loss: BCE + ``dice_weight`` x soft Dice over the non-ignored pixels. Optimiser: AdamW, linear
warm-up then cosine decay, a fixed step budget; val IoU every ``val_every`` steps and after the
last, ``model.pt`` = the best. Every random choice (init, batch order, flips, iterative clicks)
flows from ``params.seed``; ``last.pt`` (every ``checkpoint_every`` steps) holds the whole state,
so ``--resume`` ends with the bytes an uninterrupted run writes (CPU).

Scale-out: under ``torchrun`` (``WORLD_SIZE`` > 1) the process group is gloo on CPU, nccl on CUDA;
every rank draws the same global batch from the seeded stream and trains on its shard
``batch[rank::world]`` (a distributed sampler without a sampler object), DDP averages the
gradients, and only rank 0 evaluates, logs and writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from portraitkit.errors import UserError
from portraitkit.io import dumps_json, read_json, safe_join, write_json
from portraitkit.outputs import check_output, stage_output
from portraitkit.params.base import data_dump

STAGE = "train"
LAST = "last.pt"  # the training state, kept in --out while a run is under way (not in the final output)
LIVE_DIR = "dvclive"
STATE_FORMAT = "portraitkit-train-state/1"


@dataclass
class Split:
    x: np.ndarray  # N x C x S x S float32 in [0, 1]
    y: np.ndarray  # N x S x S uint8: 0 / 1, 255 = ignore
    image_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # per sample
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int64))  # pad_x, pad_y, content_w, content_h
    scales: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))  # letterbox scale (input px / photo px)
    left_out: int = 0  # samples left out by the coarse policy


def _stack(xs: list, ys: list, ids: list, lbs: list, channels: int, size: int, left_out: int = 0) -> Split:
    if not xs:
        return Split(np.zeros((0, channels, size, size), np.float32), np.zeros((0, size, size), np.uint8), left_out=left_out)
    return Split(
        np.stack(xs), np.stack(ys), np.asarray(ids, np.int64),
        np.asarray([[lb.pad_x, lb.pad_y, lb.content_w, lb.content_h] for lb in lbs], np.int64),
        np.asarray([lb.scale for lb in lbs], np.float64), left_out,
    )


def _concat(a: Split, b: Split) -> Split:
    if len(b.x) == 0:
        return a
    return Split(np.concatenate([a.x, b.x]), np.concatenate([a.y, b.y]), np.concatenate([a.image_ids, b.image_ids]),
                 np.concatenate([a.boxes, b.boxes]), np.concatenate([a.scales, b.scales]), a.left_out + b.left_out)


@dataclass(frozen=True)
class CoarsePolicy:
    """What to do with the persons the flag stage flagged (``train.coarse_policy``)."""

    policy: str = "keep"  # keep | drop | ignore_band
    flagged: frozenset = frozenset()  # annotation ids
    band_px: int = 3

    def drops(self, ann_ids) -> bool:
        return self.policy == "drop" and any(int(a) in self.flagged for a in ann_ids)

    def banded(self, anns: list[dict]) -> list[dict]:
        return [a for a in anns if int(a["id"]) in self.flagged] if self.policy == "ignore_band" else []


def _disk(r: int) -> np.ndarray:
    yy, xx = np.ogrid[-r : r + 1, -r : r + 1]
    return (xx * xx + yy * yy <= r * r).astype(np.uint8)


def outline_band(person_lb: np.ndarray, px: int) -> np.ndarray:
    """Boolean band of a letterboxed person mask (0 / 1, 255 padding): the pixels within ``px``
    input pixels (Euclidean) of a person pixel *and* of a background pixel, i.e. both sides of the
    outline. Padding is neither, so the frame of the letterbox is no outline."""
    import cv2

    k = _disk(int(px))
    near_person = cv2.dilate((person_lb == 1).astype(np.uint8), k, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    near_bg = cv2.dilate((person_lb == 0).astype(np.uint8), k, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return (near_person & near_bg).astype(bool)


def _apply_bands(y: np.ndarray, anns: list[dict], h: int, w: int, lb, px: int) -> np.ndarray:
    from portraitkit.curate.masks import union_mask
    from portraitkit.train.letterbox import IGNORE, letterbox_mask

    if not anns:
        return y
    y = y.copy()
    for ann in anns:
        y[outline_band(letterbox_mask(union_mask([ann], h, w), lb), px)] = IGNORE
    return y


def read_flags(flags: Path) -> frozenset:
    """Annotation ids the flag stage flagged (``flags.parquet``: ``annotation_id``, ``flagged``)."""
    from portraitkit.io import read_parquet

    table = flags / "flags.parquet"
    if not table.is_file():
        raise UserError(f"{table}: not found (is {flags} a `portraitkit flag` --out folder?)")
    df = read_parquet(table)
    missing = [c for c in ("annotation_id", "flagged") if c not in df.columns]
    if missing:
        raise UserError(f"{table}: lacks the column(s) {', '.join(missing)}")
    return frozenset(int(a) for a in df.loc[df["flagged"].astype(bool), "annotation_id"])


def _check_flags_cover(flags: Path, coco: dict, person_id: int) -> None:
    from portraitkit.io import read_parquet

    known = set(int(a) for a in read_parquet(flags / "flags.parquet")["annotation_id"])
    absent = [int(a["id"]) for anns in _persons_by_image(coco, person_id).values() for a in anns
              if int(a["id"]) not in known]
    if absent:
        raise UserError(f"{flags / 'flags.parquet'}: no verdict on annotation {absent[0]} of the train split "
                        f"({len(absent)} in all): flags of another curate run?")


def _persons_by_image(coco: dict, person_id: int) -> dict[int, list[dict]]:
    by_image: dict[int, list[dict]] = {}
    for ann in coco["annotations"]:
        if int(ann.get("category_id", person_id)) == person_id:
            by_image.setdefault(int(ann["image_id"]), []).append(ann)
    return by_image


def _person_mask(curated: Path, img: dict, anns: list[dict]) -> np.ndarray:
    import cv2

    from portraitkit.curate.masks import union_mask

    height, width = int(img["height"]), int(img["width"])
    png = curated / "masks" / f"{img['id']}.png"
    if png.is_file():
        m = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
        if m is None or m.shape != (height, width):
            raise UserError(f"{png}: not a {width}x{height} PNG mask of image {img['id']}")
        return (m >= 128 if m.max(initial=0) > 1 else m > 0).astype(np.uint8)
    return union_mask(anns, height, width)


def _read_rgb(images: Path, img: dict, split_file: Path) -> np.ndarray:
    from portraitkit.images import read_image

    path = safe_join(images, img["file_name"], context=f"{split_file}: image {img['id']}: file_name")
    read = read_image(path, int(img["width"]), int(img["height"]))
    if read.rgb is None:
        raise UserError(f"{path}: image {img['id']}: {read.problem}")
    return read.rgb


def load_split(curated: Path, images: Path, split: str, size: int, limit: int | None = None,
               policy: CoarsePolicy | None = None, person_id: int = 1) -> Split:
    """Letterboxed RGB and person masks of one curated split (its first ``limit`` images by id, when
    given), with ``policy`` applied to the flagged persons (category ``person_id``)."""
    from portraitkit.curate.outputs import read_split
    from portraitkit.train.letterbox import letterbox_image, letterbox_mask

    policy = policy or CoarsePolicy()
    split_file = curated / f"{split}.json"
    coco = read_split(split_file)
    by_image = _persons_by_image(coco, person_id)
    xs, ys, ids, lbs, left_out = [], [], [], [], 0
    for img in sorted(coco["images"], key=lambda im: int(im["id"]))[:limit]:
        anns = by_image.get(int(img["id"]), [])
        if policy.drops(a["id"] for a in anns):
            left_out += 1
            continue
        chw, lb = letterbox_image(_read_rgb(images, img, split_file), size)
        y = letterbox_mask(_person_mask(curated, img, anns), lb)
        xs.append(chw)
        ys.append(_apply_bands(y, policy.banded(anns), int(img["height"]), int(img["width"]), lb, policy.band_px))
        ids.append(int(img["id"]))
        lbs.append(lb)
    return _stack(xs, ys, ids, lbs, 3, size, left_out)


CLICK_ENCODING = {"kind": "distance", "truncate": 255}


def load_interactive_split(curated: Path, images: Path, clicks: Path, split: str, size: int,
                           limit: int | None = None, policy: CoarsePolicy | None = None, person_id: int = 1) -> Split:
    """One sample per (person, click set) of clicks.parquet: RGB + click planes, that person's mask
    (the first ``limit`` samples in that order, when given), ``policy`` applied to the flagged persons.

    Click planes are encoded like ``train.evaluation.clickmaps``: the clicks package's distance maps
    at the photo's resolution, letterboxed like a mask (padding 255 = far from any click), / 255.
    """
    from portraitkit.annotate.clicks.encoding import encode_clicks
    from portraitkit.curate.masks import union_mask
    from portraitkit.curate.outputs import read_split
    from portraitkit.io import read_parquet
    from portraitkit.train.letterbox import letterbox_image, letterbox_mask

    policy = policy or CoarsePolicy()
    table = clicks / "clicks.parquet"
    if not table.is_file():
        raise UserError(f"{table}: not found (is {clicks} a `portraitkit clicks` --out folder?)")
    rows = read_parquet(table)
    rows = rows[rows["split"] == split].sort_values(["image_id", "annotation_id", "strategy", "set_index"])
    if limit is not None:
        rows = rows.head(limit)
    split_file = curated / f"{split}.json"
    coco = read_split(split_file)
    imgs = {int(im["id"]): im for im in coco["images"]}
    anns = {int(a["id"]): a for a in coco["annotations"]}
    by_image = _persons_by_image(coco, person_id)
    xs, ys, ids, lbs, cache, left_out = [], [], [], [], {}, 0
    for row in rows.itertuples(index=False):
        img, ann = imgs.get(int(row.image_id)), anns.get(int(row.annotation_id))
        if img is None or ann is None:
            raise UserError(f"{table}: annotation {row.annotation_id}: not in {split_file} (clicks of another curate run?)")
        persons = by_image.get(int(img["id"]), [])
        if policy.drops(a["id"] for a in persons):
            left_out += 1
            continue
        if img["id"] not in cache:
            cache = {img["id"]: letterbox_image(_read_rgb(images, img, split_file), size)}
        chw, lb = cache[img["id"]]
        h, w = int(img["height"]), int(img["width"])
        pos = np.asarray(list(row.positives), np.int64).reshape(-1, 2)
        neg = np.asarray(list(row.negatives), np.int64).reshape(-1, 2)
        maps = encode_clicks(h, w, pos, neg, kind="distance", truncate=255)
        planes = [letterbox_mask(np.ascontiguousarray(maps[:, :, c]), lb).astype(np.float32) / 255.0 for c in range(2)]
        xs.append(np.concatenate([chw, np.stack(planes)]))
        y = letterbox_mask(union_mask([ann], h, w), lb)
        ys.append(_apply_bands(y, policy.banded(persons), h, w, lb, policy.band_px))
        ids.append(int(img["id"]))
        lbs.append(lb)
    return _stack(xs, ys, ids, lbs, 5, size, left_out)


class _VariantReplay:
    """Each person's mask in an augment variant's geometry, by replaying the variant's recorded
    transforms (augment.pipeline) on that person's mask (the photo is not needed: a blank image of
    its size goes through; only the masks are kept). The replayed union must equal the stored mask,
    else the augment output is not this curate run's (or another augment version's)."""

    def __init__(self, augmented: Path, curated: Path) -> None:
        from portraitkit.augment.pipeline import Augmenter
        from portraitkit.params.augment import AugmentParams

        summary = read_json(augmented / "summary.json")
        try:
            self.aug = Augmenter(AugmentParams.model_validate(summary["params"]))
        except Exception as exc:  # noqa: BLE001 - pydantic / KeyError: not an augment summary of this version
            raise UserError(f"{augmented / 'summary.json'}: no usable augment params ({type(exc).__name__})") from None
        self.curated = curated

    def persons(self, row, img: dict, anns: list[dict], stored: np.ndarray) -> dict[int, np.ndarray]:
        import json

        from portraitkit.curate.masks import ann_to_mask

        h, w = int(img["height"]), int(img["width"])
        union = _person_mask(self.curated, img, anns)
        inst = [ann_to_mask(a, h, w) for a in anns]
        try:
            res = self.aug.replay(json.loads(row.transforms), np.zeros((h, w, 3), np.uint8), union, instance_masks=inst)
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(f"variant {row.variant} of image {row.image_id}: cannot replay its transforms ({exc})") from None
        if not np.array_equal(res.mask, stored):
            raise UserError(f"variant {row.variant} of image {row.image_id}: replaying its transforms does not give its "
                            f"stored mask {row.mask_file} (an augment output of another curate run or version?)")
        return {int(a["id"]): m for a, m in zip(anns, res.instance_masks)}


def load_augmented(augmented: Path, curated: Path, size: int, policy: CoarsePolicy | None = None,
                   person_id: int = 1, interactive: bool = False) -> tuple[Split, dict]:
    """The augment stage's variants of the curated *train* images (never val / test), letterboxed;
    their 255 pixels stay ignored. ``drop`` leaves out the variants of dropped images; ``ignore_band``
    bands each flagged person's outline in the variant (its mask replayed, :class:`_VariantReplay`).
    ``interactive``: one sample per row of augment's ``clicks.parquet`` (click sets moved with the
    variant), target = that person's replayed mask (and the variant's ignore pixels)."""
    import cv2

    from portraitkit.annotate.clicks.encoding import encode_clicks
    from portraitkit.augment.contract import CONTRACT as AUGMENT_CONTRACT
    from portraitkit.contracts import check_output as check_contract
    from portraitkit.curate.outputs import read_split
    from portraitkit.io import read_parquet
    from portraitkit.train.letterbox import IGNORE, letterbox_image, letterbox_mask

    policy = policy or CoarsePolicy()
    check_contract(augmented, AUGMENT_CONTRACT)
    train = read_split(curated / "train.json")
    imgs = {int(im["id"]): im for im in train["images"]}
    persons = _persons_by_image(train, person_id)
    rows = read_parquet(augmented / "variants.parquet").sort_values(["image_id", "variant"])
    sets: dict[tuple[int, int], list] = {}
    if interactive:
        table = augmented / "clicks.parquet"
        if not table.is_file():
            raise UserError(f"{table}: not found: an interactive model trains on variants with their click sets "
                            "(run augment with --clicks)")
        clicks = read_parquet(table)
        clicks = clicks[clicks["split"] == "train"].sort_values(["image_id", "variant", "annotation_id", "strategy", "set_index"])
        for c in clicks.itertuples(index=False):
            sets.setdefault((int(c.image_id), int(c.variant)), []).append(c)
    replay = None
    xs, ys, ids, lbs = [], [], [], []
    counts = {"n_augmented": 0, "augmented_not_train": 0, "augmented_left_out": 0}
    for row in rows.itertuples(index=False):
        image_id = int(row.image_id)
        img = imgs.get(image_id)
        if img is None:  # a val / test image, or another curate run's: never trained on
            counts["augmented_not_train"] += 1
            continue
        anns = persons.get(image_id, [])
        if policy.drops(a["id"] for a in anns):
            counts["augmented_left_out"] += 1
            continue
        where = f"{augmented / 'variants.parquet'}: image {image_id} variant {row.variant}"
        img_path = safe_join(augmented, row.image_file, context=f"{where}: image_file")
        mask_path = safe_join(augmented, row.mask_file, context=f"{where}: mask_file")
        bgr = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
        if bgr is None or mask is None or mask.shape != bgr.shape[:2]:
            raise UserError(f"{where}: cannot read {img_path} or its mask {mask_path}")
        if not set(np.unique(mask).tolist()) <= {0, 1, IGNORE}:
            raise UserError(f"{mask_path}: values other than 0 / 1 / 255 (not an augment stage mask)")
        banded = policy.banded(anns)
        own = sets.get((image_id, int(row.variant)), [])
        if (banded or own) and replay is None:
            replay = _VariantReplay(augmented, curated)
        inst = replay.persons(row, img, anns, mask) if (banded or own) else {}
        chw, lb = letterbox_image(np.ascontiguousarray(bgr[:, :, ::-1]), size)
        bands = np.zeros((size, size), bool)
        for a in banded:
            bands |= outline_band(letterbox_mask(inst[int(a["id"])], lb), policy.band_px)
        hv, wv = mask.shape
        if not interactive:
            y = letterbox_mask(mask, lb)
            y[bands] = IGNORE
            xs.append(chw)
            ys.append(y)
            ids.append(image_id)
            lbs.append(lb)
            continue
        for c in own:
            person = inst.get(int(c.annotation_id))
            if person is None:
                raise UserError(f"{augmented / 'clicks.parquet'}: annotation {c.annotation_id}: not a person of image "
                                f"{image_id} in {curated / 'train.json'}")
            pos = np.asarray(list(c.positives), np.int64).reshape(-1, 2)
            neg = np.asarray(list(c.negatives), np.int64).reshape(-1, 2)
            maps = encode_clicks(hv, wv, pos, neg, kind="distance", truncate=255)
            planes = [letterbox_mask(np.ascontiguousarray(maps[:, :, k]), lb).astype(np.float32) / 255.0 for k in range(2)]
            target = np.where(mask == IGNORE, IGNORE, person).astype(np.uint8)
            y = letterbox_mask(target, lb)
            y[bands] = IGNORE
            xs.append(np.concatenate([chw, np.stack(planes)]))
            ys.append(y)
            ids.append(image_id)
            lbs.append(lb)
    counts["n_augmented"] = len(xs)
    return _stack(xs, ys, ids, lbs, 5 if interactive else 3, size), counts


def masked_loss(logits, target, dice_weight: float):
    """BCE + dice_weight x soft Dice over the pixels whose target is not 255."""
    import torch
    import torch.nn.functional as F

    valid = (target != 255).float()
    y = (target == 1).float()
    n_valid = valid.sum().clamp_min(1.0)
    bce = (F.binary_cross_entropy_with_logits(logits, y, reduction="none") * valid).sum() / n_valid
    p = torch.sigmoid(logits) * valid
    inter = (p * y).sum()
    dice = 1.0 - (2.0 * inter + 1.0) / (p.sum() + (y * valid).sum() + 1.0)
    return bce + dice_weight * dice


def lr_at(step: int, total: int, warmup: int, peak: float) -> float:
    """Linear warm-up to ``peak`` over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if warmup and step < warmup:
        return peak * (step + 1) / warmup
    span = max(1, total - warmup)
    return peak * 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / span)))


def iou(model, split: Split, device, batch: int = 16) -> float | None:
    """Pooled person IoU at threshold 0.5 over the non-ignored pixels (None for an empty split)."""
    import torch

    if len(split.x) == 0:
        return None
    inter = union = 0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for i in range(0, len(split.x), batch):
            pred = model(torch.from_numpy(split.x[i : i + batch]).to(device))[:, 0].float().cpu().numpy() >= 0.0
            t = split.y[i : i + batch]
            valid = t != 255
            gt = t == 1
            inter += int((pred & gt & valid).sum())
            union += int(((pred | gt) & valid).sum())
    model.train(was_training)
    return 1.0 if union == 0 else inter / union


def add_error_clicks(model, x: np.ndarray, y: np.ndarray, boxes: np.ndarray, scales: np.ndarray, device, rule: str,
                     n_clicks: int) -> tuple[np.ndarray, int]:
    """RITM-style iterative training: ``n_clicks`` times, predict with the model (eval mode, no
    grad) and add, per sample, the clicks package's error-driven ``next_click`` to its click planes.

    Ignored target pixels (255) count as right wherever the model puts them. The new click's plane
    is the distance to it in photo pixels (input pixels / letterbox scale), truncated at 255, / 255,
    kept where it is nearer than the sample's earlier clicks; the padding stays 1 (far).
    Returns (the new inputs, how many clicks were added)."""
    import torch

    from portraitkit.annotate.clicks.iterative import next_click

    x = x.copy()
    size = x.shape[-1]
    yy, xx = np.mgrid[0:size, 0:size]
    added = 0
    was_training = model.training
    model.eval()
    try:
        for _ in range(n_clicks):
            with torch.no_grad():
                pred = model(torch.from_numpy(x).to(device))[:, 0].float().cpu().numpy() >= 0.0
            for i in range(len(x)):
                gt = y[i] == 1
                p = np.where(y[i] == 255, gt, pred[i])
                c = next_click(p, gt, rule)
                if c is None:
                    continue
                px, py, cw, ch = (int(v) for v in boxes[i])
                d = np.sqrt((xx - c.x) ** 2 + (yy - c.y) ** 2) / float(scales[i])
                plane = np.minimum(d, 255.0).astype(np.float32) / np.float32(255.0)
                ch_idx = 3 if c.positive else 4
                win = (slice(py, py + ch), slice(px, px + cw))
                x[i, ch_idx][win] = np.minimum(x[i, ch_idx][win], plane[win])
                added += 1
    finally:
        model.train(was_training)
    return x, added


def resolve_device(device: str, local_rank: int = 0) -> str:
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"train.device: {device!r} asked for, but torch sees no CUDA device")
    if device != "cpu" and not device.startswith("cuda"):
        raise UserError(f"train.device: must be auto, cpu or cuda, got {device!r}")
    if device == "cuda":
        device = f"cuda:{local_rank}"
    return device


def params_digest(params) -> str:
    return hashlib.sha256(dumps_json({"seed": params.seed, "train": data_dump(params.train)}, indent=None).encode()).hexdigest()


def _data_digest(*splits: Split) -> str:
    h = hashlib.sha256()
    for s in splits:
        h.update(np.ascontiguousarray(s.x).tobytes())
        h.update(np.ascontiguousarray(s.y).tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class Dist:
    """The torchrun world this process is part of (world 1: no process group)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @staticmethod
    def from_env() -> "Dist":
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return Dist()
        return Dist(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def main(self) -> bool:
        return self.rank == 0


class TrainingInterrupted(RuntimeError):
    """Raised by the ``stop_after`` seam of :func:`train` (a test stand-in for a killed run)."""


def optimizer_step(loss, opt, scaler) -> None:
    """One backward + AdamW step; through the GradScaler when mixed precision is on (CUDA)."""
    opt.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    else:
        loss.backward()
        opt.step()


def _owned(out: Path) -> bool:
    from portraitkit.outputs import read_marker

    if read_marker(out) == STAGE:
        return True
    mj = out / "metrics.json"
    try:
        return mj.is_file() and read_json(mj).get("stage") == STAGE
    except (UserError, AttributeError):
        return False


def _claim_out(out: Path) -> None:
    """Make ``out`` ours before writing the live files (last.pt, dvclive/) into it."""
    from portraitkit.outputs import MARKER, marker_text

    out.mkdir(parents=True, exist_ok=True)
    if not (out / MARKER).is_file():
        (out / MARKER).write_text(marker_text(STAGE), encoding="utf-8")


def _save_state(path: Path, state: dict) -> None:
    import io

    import torch

    from portraitkit.io import atomic_path

    buffer = io.BytesIO()
    torch.save(state, buffer)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(buffer.getvalue())


def _load_state(path: Path) -> dict:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a foreign or torn file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"{path}: not a readable training state ({first[:120]}); run without --resume") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise UserError(f"{path}: not a portraitkit training state; run without --resume")
    return state


class _Live:
    """dvclive logging into ``<out>/dvclive`` only: no DVC experiment, no dvc.yaml, no report, and no
    look at the repository: dvclive's own set-up opens the DVC repo of the cwd, fails in a git repo
    without commits, and *runs dvc init* in a git repo without DVC; ours skips it (``_init_dvc``)."""

    def __init__(self, folder: Path) -> None:
        from dvclive import Live

        class FolderOnlyLive(Live):
            def _init_dvc(self) -> None:
                self._dvc_repo = None
                self._dvc_file = "dvc.yaml"  # never written: dvcyaml=None

        self.live = FolderOnlyLive(dir=str(folder), resume=False, report=None, save_dvc_exp=False, dvcyaml=None,
                         monitor_system=False)

    def step(self, step: int, loss: float, lr: float, val_iou: float | None) -> None:
        """Log optimisation step ``step`` (1-based, as in metrics.json's val_curve and model.pt's meta)."""
        self.live.step = step
        self.live.log_metric("train/loss", loss)
        self.live.log_metric("train/lr", lr)
        if val_iou is not None:
            self.live.log_metric("val/iou", val_iou)
        self.live.next_step()

    def end(self) -> None:
        self.live.end()


def train(curated: Path, images: Path, out: Path, params, clicks: Path | None = None, flags: Path | None = None,
          augmented: Path | None = None, resume: bool = False, stop_after: int | None = None) -> dict[str, Any]:
    """Train, then write ``out/`` (model.pt = best by val IoU, metrics.json, timing.json, dvclive/)
    as a whole; returns the metrics. ``stop_after``: a test seam that ends the run after that many
    steps (their training state written) as a kill would."""
    import torch

    from portraitkit.train.checkpoint import FORMAT, save_checkpoint
    from portraitkit.train.fingerprint import curated_fingerprint
    from portraitkit.train.models import SIZE_MULTIPLE, build_model, count_params_macs

    p = params.train
    if p.interactive and clicks is None:
        raise UserError("train.interactive: an interactive model needs --clicks (the clicks stage's --out folder)")
    inputs = [curated, images, clicks, flags, augmented]
    check_output(out, STAGE, inputs, legacy=_owned)  # before any work
    if p.input_size % SIZE_MULTIPLE[p.arch]:
        raise UserError(f"train.input_size: {p.input_size} must be a multiple of {SIZE_MULTIPLE[p.arch]} for {p.arch}")
    if p.coarse_policy != "keep" and flags is None:
        raise UserError(f"train.coarse_policy: {p.coarse_policy} needs --flags (the flag stage's --out folder)")
    dist = Dist.from_env()
    if p.batch_size % dist.world:
        raise UserError(f"train.batch_size: {p.batch_size} is not a multiple of the {dist.world} torchrun processes")
    fingerprint = curated_fingerprint(curated)
    device = resolve_device(p.device, dist.local_rank)
    cuda = device.startswith("cuda")
    amp = cuda and p.amp
    torch.set_num_threads(p.threads)

    person_id = params.curate.person_category_id
    policy = CoarsePolicy()
    if flags is not None:
        from portraitkit.curate.outputs import read_split

        _check_flags_cover(flags, read_split(curated / "train.json"), person_id)
        policy = CoarsePolicy(p.coarse_policy, read_flags(flags), p.ignore_band_px)
    aug_counts = {"n_augmented": 0, "augmented_not_train": 0, "augmented_left_out": 0}
    if p.interactive:
        data = load_interactive_split(curated, images, clicks, "train", p.input_size, policy=policy, person_id=person_id)
        val = load_interactive_split(curated, images, clicks, "val", p.input_size, person_id=person_id)
    else:
        data = load_split(curated, images, "train", p.input_size, policy=policy, person_id=person_id)
        val = load_split(curated, images, "val", p.input_size, person_id=person_id)
    if augmented is not None:
        variants, aug_counts = load_augmented(augmented, curated, p.input_size, policy, person_id, p.interactive)
        data = _concat(data, variants)
    if len(data.x) == 0:
        raise UserError(f"{curated / 'train.json'}: the train split holds no images"
                        + (f" ({data.left_out} left out by train.coarse_policy drop)" if data.left_out else ""))
    channels = 5 if p.interactive else 3
    digest = params_digest(params)
    data_digest = _data_digest(data, val)

    if dist.world > 1:
        import torch.distributed as tdist

        if cuda:
            torch.cuda.set_device(device)
        tdist.init_process_group("nccl" if cuda else "gloo")
    try:
        return _fit(curated, out, params, data, val, channels, device, amp, dist, policy, aug_counts, fingerprint,
                    digest, data_digest, resume, stop_after, build_model, count_params_macs, save_checkpoint, FORMAT, inputs)
    finally:
        if dist.world > 1:
            import torch.distributed as tdist

            tdist.destroy_process_group()


def _fit(curated, out, params, data, val, channels, device, amp, dist, policy, aug_counts, fingerprint, digest,
         data_digest, resume, stop_after, build_model, count_params_macs, save_checkpoint, FORMAT,
         inputs: list | None = None) -> dict[str, Any]:
    import torch

    from portraitkit.cli_common import progress_bar

    p = params.train
    torch.manual_seed(params.seed)
    rng = np.random.default_rng(params.seed)
    config = {"in_channels": channels, "width": p.width}
    module = build_model(p.arch, **config).to(device)
    opt = torch.optim.AdamW(module.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    scaler = torch.amp.GradScaler("cuda") if amp else None
    order = np.zeros(0, np.int64)
    history: dict[str, list] = {"loss": [], "lr": [], "val": []}  # val: [step, iou]
    best: dict[str, Any] = {"step": None, "iou": None, "state": None}
    start = 0
    rule = params.clicks.next_click_rule
    iterative_clicks = 0

    if dist.main:
        _claim_out(out)
    state_path = out / LAST
    if resume and state_path.is_file():
        st = _load_state(state_path)
        for key, want in (("params_digest", digest), ("data_digest", data_digest), ("world", dist.world)):
            if st.get(key) != want:
                raise UserError(f"{state_path}: was written by a run with other {key.replace('_', ' ')}; "
                                "run without --resume (or restore that run's inputs and params)")
        module.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        if scaler is not None and st.get("scaler"):
            scaler.load_state_dict(st["scaler"])
        rng.bit_generator.state = st["rng"]["numpy"]
        torch.set_rng_state(st["rng"]["torch"])
        if torch.cuda.is_available() and st["rng"].get("cuda"):
            torch.cuda.set_rng_state_all(st["rng"]["cuda"])
        order = st["order"].numpy().astype(np.int64)
        history = st["history"]
        best = st["best"]
        start = int(st["step"])
        iterative_clicks = int(st.get("iterative_clicks", 0))
    elif resume and dist.main:
        from portraitkit.cli_common import info

        info(f"--resume: no {state_path}: training from step 0")

    model = module
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(module, device_ids=[torch.device(device).index] if device.startswith("cuda") else None)
    live = None
    if dist.main:
        live = _Live(out / LIVE_DIR)
        val_at = {int(s): v for s, v in history["val"]}
        for s, (loss_s, lr_s) in enumerate(zip(history["loss"], history["lr"])):  # a resumed run replays its log
            live.step(s + 1, loss_s, lr_s, val_at.get(s + 1))

    def evaluate_now(step: int) -> float | None:
        v = iou(module, val, device)
        history["val"].append([step, v])
        # an empty val split: the last weights; else the first step with the highest IoU
        if v is None or best["iou"] is None or v > best["iou"]:
            best.update(step=step, iou=v, state={k: t.detach().cpu().clone() for k, t in module.state_dict().items()})
        return v

    local = slice(dist.rank, None, dist.world)
    t0 = time.perf_counter()
    model.train()
    bar = progress_bar(total=p.steps, desc=f"train {p.arch}", unit="step", initial=start,
                       disable=not (dist.main and p.progress))
    try:
        for step in range(start, p.steps):
            if len(order) < p.batch_size:
                order = np.concatenate([order, rng.permutation(len(data.x))])
            idx, order = order[: p.batch_size], order[p.batch_size :]
            x = data.x[idx]
            y = data.y[idx]
            boxes = data.boxes[idx].copy()
            if p.flip:
                flips = rng.random(len(idx)) < 0.5
                x = np.where(flips[:, None, None, None], x[..., ::-1], x)
                y = np.where(flips[:, None, None], y[..., ::-1], y)
                size = x.shape[-1]
                boxes[flips, 0] = size - boxes[flips, 0] - boxes[flips, 2]
            n_extra = 0
            if p.interactive and p.iterative_share > 0:
                if rng.random() < p.iterative_share:
                    n_extra = int(rng.integers(1, p.iterative_max_clicks + 1))
            x, y, boxes, scales = x[local], y[local], boxes[local], data.scales[idx][local]
            if n_extra:
                x, added = add_error_clicks(module, np.ascontiguousarray(x), np.ascontiguousarray(y), boxes, scales,
                                            device, rule, n_extra)
                iterative_clicks += added
            xt = torch.from_numpy(np.ascontiguousarray(x)).to(device)
            yt = torch.from_numpy(np.ascontiguousarray(y)).to(device)[:, None]
            lr = lr_at(step, p.steps, p.warmup_steps, p.lr)
            for group in opt.param_groups:
                group["lr"] = lr
            with torch.autocast(device_type="cuda", dtype=torch.float16) if amp else contextlib.nullcontext():
                logits = model(xt)
            loss = masked_loss(logits.float(), yt, p.dice_weight)
            optimizer_step(loss, opt, scaler)
            loss_value = loss.detach()
            if dist.world > 1:
                import torch.distributed as tdist

                tdist.all_reduce(loss_value)
                loss_value = loss_value / dist.world
            history["loss"].append(float(loss_value))
            history["lr"].append(lr)
            done = step + 1
            v = None
            if dist.main and ((p.val_every and done % p.val_every == 0) or done == p.steps):
                v = evaluate_now(done)
            if dist.main:
                live.step(done, history["loss"][-1], lr, v)
                bar.set_postfix(loss=f"{history['loss'][-1]:.4f}", **({"val_iou": f"{v:.3f}"} if v is not None else {}))
                bar.update(1)
                if p.checkpoint_every and done % p.checkpoint_every == 0 and done < p.steps:
                    _save_state(state_path, {
                        "format": STATE_FORMAT, "step": done, "params_digest": digest, "data_digest": data_digest,
                        "world": dist.world, "model": module.state_dict(), "optimizer": opt.state_dict(),
                        "scaler": scaler.state_dict() if scaler is not None else {},
                        "rng": {"numpy": rng.bit_generator.state, "torch": torch.get_rng_state(),
                                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
                        "order": torch.from_numpy(order.copy()), "history": history, "best": best,
                        "iterative_clicks": iterative_clicks,
                    })
            if stop_after is not None and done >= stop_after and done < p.steps:
                raise TrainingInterrupted(f"stopped after step {done} (test seam)")
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    steps_run = max(1, p.steps - start)

    if not dist.main:
        import torch.distributed as tdist

        tdist.barrier()
        return {}
    live.end()
    final_val_iou = history["val"][-1][1] if history["val"] else None
    module = module.cpu().eval()
    module.load_state_dict(best["state"])
    n_params, macs = count_params_macs(module, channels, p.input_size)
    meta = {
        "format": FORMAT, "arch": p.arch, "model_config": config, "in_channels": channels, "input_size": p.input_size,
        "interactive": p.interactive, "click_encoding": dict(CLICK_ENCODING) if p.interactive else None,
        "normalize": "0-1", "params_digest": digest, "dataset_fingerprint": fingerprint, "step": best["step"],
        "best_val_iou": best["iou"], "params": {"seed": params.seed, "train": data_dump(p)}, "macs": macs,
        "n_params": n_params,
    }
    metrics = {
        "stage": STAGE, "arch": p.arch, "interactive": p.interactive, "steps": p.steps, "n_train": int(len(data.x)),
        "n_val": int(len(val.x)), "val_iou": best["iou"], "best_step": best["step"], "best_val_iou": best["iou"],
        "final_val_iou": final_val_iou, "val_curve": [{"step": int(s), "val_iou": v} for s, v in history["val"]],
        "final_loss": history["loss"][-1], "first_loss": history["loss"][0], "n_params": n_params, "macs": macs,
        "coarse_policy": policy.policy, "n_left_out_coarse": int(data.left_out), **aug_counts,
        "iterative_clicks": iterative_clicks, "dataset_fingerprint": fingerprint, "params_digest": digest,
    }
    # Timing, device and world size are execution facts: kept out of metrics.json so equal runs write equal bytes.
    timing = {"seconds_per_step": seconds / steps_run, "device": device, "amp": amp, "world_size": dist.world}
    with stage_output(out, STAGE, inputs or [curated], legacy=_owned) as tmp:
        save_checkpoint(tmp / "model.pt", module, meta)
        write_json(tmp / "metrics.json", metrics)
        write_json(tmp / "timing.json", timing)
        shutil.copytree(out / LIVE_DIR, tmp / LIVE_DIR)
    if dist.world > 1:
        import torch.distributed as tdist

        tdist.barrier()
    return {**metrics, **timing}
