"""The train stage: fit one segmenter from scratch on curate's train split, score val IoU, write model.pt.

Data: curate's kept train images (``train.json``) with their person masks (``masks/<id>.png``,
else rasterised from the COCO polygons), letterboxed to ``input_size``; padding is 255 and left
out of the loss. Loss: BCE + ``dice_weight`` x soft Dice, both over the non-ignored pixels.
Optimiser: AdamW, linear warm-up then cosine decay, a fixed step budget. Every random choice
(init, batch order, flips) flows from ``params.seed``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from portraitkit.errors import UserError
from portraitkit.io import dumps_json, read_json, safe_join, write_json
from portraitkit.outputs import check_output, stage_output
from portraitkit.params.base import data_dump

STAGE = "train"


@dataclass
class Split:
    x: np.ndarray  # N x 3 x S x S float32 in [0, 1]
    y: np.ndarray  # N x S x S uint8: 0 / 1, 255 = ignore


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


def load_split(curated: Path, images: Path, split: str, size: int) -> Split:
    """Letterboxed RGB and masks of one curated split."""
    from portraitkit.images import read_image
    from portraitkit.curate.outputs import read_split
    from portraitkit.train.letterbox import letterbox_image, letterbox_mask

    split_file = curated / f"{split}.json"
    coco = read_split(split_file)
    by_image: dict[int, list[dict]] = {}
    for ann in coco["annotations"]:
        by_image.setdefault(int(ann["image_id"]), []).append(ann)
    xs, ys = [], []
    for img in sorted(coco["images"], key=lambda im: int(im["id"])):
        path = safe_join(images, img["file_name"], context=f"{split_file}: image {img['id']}: file_name")
        read = read_image(path, int(img["width"]), int(img["height"]))
        if read.rgb is None:
            raise UserError(f"{path}: image {img['id']}: {read.problem}")
        chw, lb = letterbox_image(read.rgb, size)
        xs.append(chw)
        ys.append(letterbox_mask(_person_mask(curated, img, by_image.get(int(img["id"]), [])), lb))
    if not xs:
        return Split(np.zeros((0, 3, size, size), np.float32), np.zeros((0, size, size), np.uint8))
    return Split(np.stack(xs), np.stack(ys))


CLICK_ENCODING = {"kind": "distance", "truncate": 255}


def load_interactive_split(curated: Path, images: Path, clicks: Path, split: str, size: int) -> Split:
    """One sample per (person, click set) of clicks.parquet: RGB + click planes, that person's mask.

    Click planes are encoded like ``train.evaluation.clickmaps``: the clicks package's distance maps
    at the photo's resolution, letterboxed like a mask (padding 255 = far from any click), / 255.
    """
    from portraitkit.annotate.clicks.encoding import encode_clicks
    from portraitkit.images import read_image
    from portraitkit.curate.masks import union_mask
    from portraitkit.curate.outputs import read_split
    from portraitkit.io import read_parquet
    from portraitkit.train.letterbox import letterbox_image, letterbox_mask

    table = clicks / "clicks.parquet"
    if not table.is_file():
        raise UserError(f"{table}: not found (is {clicks} a `portraitkit clicks` --out folder?)")
    rows = read_parquet(table)
    rows = rows[rows["split"] == split].sort_values(["image_id", "annotation_id", "strategy", "set_index"])
    split_file = curated / f"{split}.json"
    coco = read_split(split_file)
    imgs = {int(im["id"]): im for im in coco["images"]}
    anns = {int(a["id"]): a for a in coco["annotations"]}
    xs, ys, cache = [], [], {}
    for row in rows.itertuples(index=False):
        img, ann = imgs.get(int(row.image_id)), anns.get(int(row.annotation_id))
        if img is None or ann is None:
            raise UserError(f"{table}: annotation {row.annotation_id}: not in {split_file} (clicks of another curate run?)")
        if img["id"] not in cache:
            path = safe_join(images, img["file_name"], context=f"{split_file}: image {img['id']}: file_name")
            read = read_image(path, int(img["width"]), int(img["height"]))
            if read.rgb is None:
                raise UserError(f"{path}: image {img['id']}: {read.problem}")
            cache = {img["id"]: letterbox_image(read.rgb, size)}
        chw, lb = cache[img["id"]]
        h, w = int(img["height"]), int(img["width"])
        pos = np.asarray(list(row.positives), np.int64).reshape(-1, 2)
        neg = np.asarray(list(row.negatives), np.int64).reshape(-1, 2)
        maps = encode_clicks(h, w, pos, neg, kind="distance", truncate=255)
        planes = [letterbox_mask(np.ascontiguousarray(maps[:, :, c]), lb).astype(np.float32) / 255.0 for c in range(2)]
        xs.append(np.concatenate([chw, np.stack(planes)]))
        ys.append(letterbox_mask(union_mask([ann], h, w), lb))
    if not xs:
        return Split(np.zeros((0, 5, size, size), np.float32), np.zeros((0, size, size), np.uint8))
    return Split(np.stack(xs), np.stack(ys))


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
    model.eval()
    with torch.no_grad():
        for i in range(0, len(split.x), batch):
            pred = model(torch.from_numpy(split.x[i : i + batch]).to(device))[:, 0].cpu().numpy() >= 0.0
            t = split.y[i : i + batch]
            valid = t != 255
            gt = t == 1
            inter += int((pred & gt & valid).sum())
            union += int(((pred | gt) & valid).sum())
    return 1.0 if union == 0 else inter / union


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"train.device: {device!r} asked for, but torch sees no CUDA device")
    if device != "cpu" and not device.startswith("cuda"):
        raise UserError(f"train.device: must be auto, cpu or cuda, got {device!r}")
    return device


def params_digest(params) -> str:
    import hashlib

    return hashlib.sha256(dumps_json({"seed": params.seed, "train": data_dump(params.train)}, indent=None).encode()).hexdigest()


def train(curated: Path, images: Path, out: Path, params, clicks: Path | None = None) -> dict[str, Any]:
    """Train, then write ``out/`` (model.pt, metrics.json) as a whole; returns the metrics."""
    import torch

    from portraitkit.cli_common import progress
    from portraitkit.train.checkpoint import FORMAT, save_checkpoint
    from portraitkit.train.fingerprint import curated_fingerprint
    from portraitkit.train.models import SIZE_MULTIPLE, build_model, count_params_macs

    p = params.train
    if p.interactive and clicks is None:
        raise UserError("train.interactive: an interactive model needs --clicks (the clicks stage's --out folder)")
    check_output(out, STAGE, [curated, images, clicks])  # before any work: never an input or a user's folder
    if p.input_size % SIZE_MULTIPLE[p.arch]:
        raise UserError(f"train.input_size: {p.input_size} must be a multiple of {SIZE_MULTIPLE[p.arch]} for {p.arch}")
    if out.exists() and any(out.iterdir()):
        mj = out / "metrics.json"
        try:
            ours = mj.is_file() and read_json(mj).get("stage") == STAGE
        except (UserError, AttributeError):
            ours = False
        if not ours:
            raise UserError(f"{out}: exists and was not written by `portraitkit train`; choose an empty or new --out")
    fingerprint = curated_fingerprint(curated)
    device = resolve_device(p.device)
    torch.set_num_threads(p.threads)

    if p.interactive:
        data = load_interactive_split(curated, images, clicks, "train", p.input_size)
        val = load_interactive_split(curated, images, clicks, "val", p.input_size)
    else:
        data = load_split(curated, images, "train", p.input_size)
        val = load_split(curated, images, "val", p.input_size)
    if len(data.x) == 0:
        raise UserError(f"{curated / 'train.json'}: the train split holds no images")
    channels = 5 if p.interactive else 3

    torch.manual_seed(params.seed)
    rng = np.random.default_rng(params.seed)
    config = {"in_channels": channels, "width": p.width}
    model = build_model(p.arch, **config).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    order = np.zeros(0, np.int64)
    losses = []
    t0 = time.perf_counter()
    model.train()
    for step in progress(range(p.steps), "training", total=p.steps, unit="step"):
        if len(order) < p.batch_size:
            order = np.concatenate([order, rng.permutation(len(data.x))])
        idx, order = order[: p.batch_size], order[p.batch_size :]
        x = data.x[idx]
        y = data.y[idx]
        if p.flip:
            flips = rng.random(len(idx)) < 0.5
            x = np.where(flips[:, None, None, None], x[..., ::-1], x)
            y = np.where(flips[:, None, None], y[..., ::-1], y)
        xt = torch.from_numpy(np.ascontiguousarray(x)).to(device)
        yt = torch.from_numpy(np.ascontiguousarray(y)).to(device)[:, None]
        for group in opt.param_groups:
            group["lr"] = lr_at(step, p.steps, p.warmup_steps, p.lr)
        loss = masked_loss(model(xt), yt, p.dice_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    seconds = time.perf_counter() - t0

    val_iou = iou(model, val, device)
    model = model.cpu().eval()
    n_params, macs = count_params_macs(model, channels, p.input_size)
    meta = {
        "format": FORMAT, "arch": p.arch, "model_config": config, "in_channels": channels, "input_size": p.input_size,
        "interactive": p.interactive, "click_encoding": dict(CLICK_ENCODING) if p.interactive else None, "normalize": "0-1", "params_digest": params_digest(params),
        "dataset_fingerprint": fingerprint, "step": p.steps, "best_val_iou": val_iou,
        "params": {"seed": params.seed, "train": data_dump(p)}, "macs": macs, "n_params": n_params,
    }
    metrics = {
        "stage": STAGE, "arch": p.arch, "interactive": p.interactive, "steps": p.steps, "n_train": int(len(data.x)), "n_val": int(len(val.x)),
        "val_iou": val_iou, "final_loss": losses[-1], "first_loss": losses[0], "n_params": n_params, "macs": macs,
        "dataset_fingerprint": fingerprint, "params_digest": meta["params_digest"],
    }
    # Timing and device are execution facts: kept out of metrics.json so equal runs write equal bytes.
    timing = {"seconds_per_step": seconds / p.steps, "device": device}
    with stage_output(out, STAGE, [curated]) as tmp:
        save_checkpoint(tmp / "model.pt", model, meta)
        write_json(tmp / "metrics.json", metrics)
        write_json(tmp / "timing.json", timing)
    return {**metrics, **timing}
