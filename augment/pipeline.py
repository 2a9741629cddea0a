"""The augmentation pipeline: an albumentations ``Compose`` built from ``params.augment``.

One object, :class:`Augmenter`, serves both offline materialisation (the ``augment``
stage) and on-line training (call it in a Dataset's ``__getitem__``).

Order of the families (physics of a photograph): framing and rotation (the camera;
framing's zoom/shift and rotation's tilt are fused into one warp, ``geometry.affine``,
so photo and mask are resampled once),
shade (light in the scene), motion blur (exposure time), lighting (sensor and
processing: low light with its sensor noise first, then tone and colour).

Targets and conventions
-----------------------
* ``image``: uint8 RGB (H, W, 3).
* ``mask``: uint8, 0 = background, 1 = person. Geometry uses nearest-neighbour
  interpolation, so the output stays in {0, 1, ignore}; borders that come from
  padding (rotation, zoom-out, shift) get ``mask_ignore_value`` (255 by default):
  not person, not background, to be ignored by the loss. The *image* there is a
  reflection of the photo (``image_border: reflect``) so nothing looks artificial.
* ``masks``: optional per-instance masks (same conventions), used to judge clicks.
* clicks: keypoints in pixel coordinates, ``x`` = column, integer = pixel centre
  (albumentations' convention), moved by the geometry.
* Blur, shade and lighting are image-only: the mask stays the sharp person.

Determinism and replay
----------------------
Each call takes ``seed``: a sequence of ints (e.g. ``[root_seed, salt, image_id,
variant, attempt]``). The whole call draws from one ``numpy.random.Generator`` and
one ``random.Random`` derived from it (``Compose.set_random_state``), so the result
depends on the seed only, never on call order or worker. (``Compose(seed=...)``
would give every transform its own generator seeded with the *same* number, so
transforms with equal ``p`` would fire together; we do not use it.)

Every call records the transforms that were applied with their exact parameters
(albumentations' ``save_applied_params``), keyed by the transform's name in the
pipeline (``"lighting.gamma"``). :func:`encode_params` makes them JSON, and
:meth:`Augmenter.replay` reapplies them (albumentations' replay mode) to reproduce
the output bit for bit, without drawing anything.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from typing import Any, Sequence

import cv2
import numpy as np

import albumentations as A
from portraitkit.augment import realism
from portraitkit.augment.transforms import (
    CameraShake,
    CastShadow,
    ColorTemperature,
    LowLight,
    PhoneRotate90,
    PortraitGeometry,
    SubjectMotion,
    ToneCurve,
    UnevenIllumination,
)
from portraitkit.params.augment import AugmentParams


# --------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------


def zoom_on(params: AugmentParams) -> bool:
    return params.framing.enabled and params.framing.scale_crop.p > 0


def tilt_on(params: AugmentParams) -> bool:
    return params.rotation.enabled and params.rotation.tilt.p > 0


def build_transforms(params: AugmentParams) -> list[tuple[str, A.BasicTransform]]:
    """The pipeline's transforms in order, each with its stable name (``family.op``)."""
    ign = params.mask_ignore_value
    border = cv2.BORDER_REFLECT_101 if params.image_border == "reflect" else cv2.BORDER_CONSTANT
    out: list[tuple[str, A.BasicTransform]] = []

    fr, rot = params.framing, params.rotation
    if fr.enabled:
        out.append(("framing.hflip", A.HorizontalFlip(p=fr.hflip.p)))
    zoom_p = fr.scale_crop.p if zoom_on(params) else 0.0
    tilt_p = rot.tilt.p if tilt_on(params) else 0.0
    if zoom_p > 0 or tilt_p > 0:
        sc = fr.scale_crop
        # framing.scale_crop and rotation.tilt fused into one warp: one resampling of photo and mask
        out.append(
            (
                "geometry.affine",
                PortraitGeometry(
                    zoom_p=zoom_p,
                    scale=tuple(sc.scale),
                    translate=sc.translate,
                    tilt_p=tilt_p,
                    max_degrees=rot.tilt.max_degrees,
                    interpolation=cv2.INTER_LINEAR,
                    mask_interpolation=cv2.INTER_NEAREST,
                    border_mode=border,
                    fill=0,
                    fill_mask=ign,
                ),
            )
        )
    if rot.enabled:
        out.append(("rotation.rot90", PhoneRotate90(p=rot.rot90.p)))
    sh = params.shade
    if sh.enabled:
        cs = sh.cast_shadow
        out.append(
            (
                "shade.cast_shadow",
                CastShadow(darkness=cs.darkness, softness=cs.softness, band_probability=cs.band_probability, p=cs.p),
            )
        )
        out.append(("shade.uneven_light", UnevenIllumination(strength=sh.uneven_light.strength, p=sh.uneven_light.p)))
    mb = params.motion_blur
    if mb.enabled:
        out.append(("motion_blur.camera_shake", CameraShake(kernel=mb.camera_shake.kernel, p=mb.camera_shake.p)))
        out.append(
            (
                "motion_blur.subject_motion",
                SubjectMotion(kernel=mb.subject_motion.kernel, p=mb.subject_motion.p),
            )
        )
    li = params.lighting
    if li.enabled:
        ll = li.low_light
        out.append(
            (
                "lighting.low_light",
                LowLight(exposure=ll.exposure, contrast=ll.contrast, shot_noise=ll.shot_noise,
                         read_noise=ll.read_noise, p=ll.p),
            )
        )
        bc = li.brightness_contrast
        out.append(
            (
                "lighting.brightness_contrast",
                A.RandomBrightnessContrast(brightness_limit=bc.brightness, contrast_limit=bc.contrast, p=bc.p),
            )
        )
        out.append(("lighting.gamma", A.RandomGamma(gamma_limit=tuple(li.gamma.gamma), p=li.gamma.p)))
        out.append(("lighting.tone_curve", ToneCurve(strength=li.tone_curve.strength, p=li.tone_curve.p)))
        out.append(("lighting.temperature", ColorTemperature(kelvin=li.temperature.kelvin, p=li.temperature.p)))
        cj = li.color_jitter
        out.append(
            (
                "lighting.color_jitter",
                A.ColorJitter(brightness=0.0, contrast=0.0, saturation=cj.saturation, hue=cj.hue, p=cj.p),
            )
        )
    return out


def build_compose(named: list[tuple[str, A.BasicTransform]]) -> A.Compose:
    import warnings

    with warnings.catch_warnings():  # "processor for keypoints, but no transform": fine, they pass through
        warnings.simplefilter("ignore", UserWarning)
        return _compose(named)


def _compose(named: list[tuple[str, A.BasicTransform]]) -> A.Compose:
    return A.Compose(
        [t for _, t in named],
        keypoint_params=A.KeypointParams(format="xy", label_fields=["kp_ids"], remove_invisible=True),
        mask_interpolation=cv2.INTER_NEAREST,
        save_applied_params=True,
        # we never read additional keys; shapes of image and masks are still checked
        strict=False,
    )


# --------------------------------------------------------------------------------------
# Applied params <-> JSON
# --------------------------------------------------------------------------------------


def encode_params(value: Any) -> Any:
    """JSON-able form of transform params; arrays and tuples are tagged so they decode exactly."""
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, tuple):
        return {"__tuple__": [encode_params(v) for v in value]}
    if isinstance(value, dict):
        return {str(k): encode_params(v) for k, v in value.items()}
    if isinstance(value, list):
        return [encode_params(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value


def decode_params(value: Any) -> Any:
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.asarray(value["__ndarray__"], dtype=np.dtype(value["dtype"]))
        if "__tuple__" in value:
            return tuple(decode_params(v) for v in value["__tuple__"])
        return {k: decode_params(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_params(v) for v in value]
    return value


# --------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------


@dataclass
class Click:
    """One click: pixel coordinates (x = column), its sign, and which instance it belongs to."""

    x: float
    y: float
    positive: bool
    instance: int = -1  # index into ``instance_masks``; -1: judge against the union mask


@dataclass
class Result:
    image: np.ndarray
    mask: np.ndarray
    instance_masks: list[np.ndarray]
    clicks: list[tuple[int, Click]]  # (input index, moved click rounded to a pixel) for kept clicks
    dropped_outside: list[int] = field(default_factory=list)  # input indices that left the frame
    dropped_wrong_side: list[int] = field(default_factory=list)  # input indices on the wrong side of the mask
    applied: list[dict[str, Any]] = field(default_factory=list)  # [{"name", "transform", "params"}] (raw params)
    seed: list[int] = field(default_factory=list)
    attempts: int = 1
    rejections: list[str] = field(default_factory=list)  # realism reasons of the redrawn attempts
    passed: bool = True  # False: every attempt failed the realism check (this is the last one)
    points: np.ndarray | None = None  # (K, 2) moved click coordinates, unrounded; NaN where removed

    def applied_names(self) -> list[str]:
        """Family-level names of what was applied (the fused warp split into its parts)."""
        names = []
        for a in self.applied:
            if a["name"] == "geometry.affine":
                names += [n for n, part in (("framing.scale_crop", "zoom"), ("rotation.tilt", "tilt")) if a["params"][part]]
            else:
                names.append(a["name"])
        return names

    def applied_json(self) -> list[dict[str, Any]]:
        return [{"name": a["name"], "transform": a["transform"], "params": encode_params(a["params"])}
                for a in self.applied]


def fresh_seed() -> list[int]:
    """Seed words from OS entropy: for on-line use without a seed (never shared between worker copies)."""
    return [int(x) for x in np.random.SeedSequence().generate_state(2, dtype=np.uint32)]


def rng_pair(seed: Sequence[int] | int | None) -> tuple[np.random.Generator, random.Random]:
    """The numpy and python generators of one call, both derived from ``seed`` only."""
    rng = np.random.default_rng(list(seed) if isinstance(seed, (list, tuple)) else seed)
    py = random.Random(int(rng.integers(0, 2**63 - 1)))
    return rng, py


class Augmenter:
    """The albumentations pipeline of ``params.augment`` plus clicks, realism check and replay.

    >>> aug = Augmenter(params.augment)
    >>> res = aug(image, mask, seed=[root_seed, epoch, index])   # on-line training
    >>> res.image, res.mask                                        # mask: 0/1/ignore

    Pass a seed for reproducible training (the stage uses ``[seed, SALT, image_id,
    variant]``); without one each call draws fresh OS entropy, so DataLoader worker
    copies never repeat each other. An instance holds per-call state (albumentations
    keeps random state and params on its transforms): one per process or thread.
    """

    def __init__(self, params: AugmentParams | None = None):
        self.params = params if params is not None else AugmentParams()
        self.named = build_transforms(self.params)
        self.by_name = {n: t for n, t in self.named}
        self.op_names = [
            x
            for n in self.by_name
            for x in (
                [m for m, on in (("framing.scale_crop", zoom_on(self.params)), ("rotation.tilt", tilt_on(self.params)))
                 if on]
                if n == "geometry.affine"
                else [n]
            )
        ]
        self.compose = build_compose(self.named)
        self.ignore = self.params.mask_ignore_value
        self._replay_compose: A.Compose | None = None
        self._replay_by_name: dict[str, A.BasicTransform] = {}

    # -- the raw call ------------------------------------------------------------------
    def _inputs(self, image, mask, clicks, instance_masks) -> dict[str, Any]:
        kps = np.array([[c.x, c.y] for c in clicks], dtype=np.float32).reshape(-1, 2)
        data: dict[str, Any] = {"image": image, "mask": mask, "keypoints": kps, "kp_ids": list(range(len(clicks)))}
        if instance_masks:
            data["masks"] = list(instance_masks)
        return data

    def _outputs(self, data: dict[str, Any], clicks: Sequence[Click], applied: list[dict[str, Any]],
                 seed: list[int]) -> Result:
        image, mask = data["image"], data["mask"]
        inst = list(data.get("masks", []))
        h, w = mask.shape[:2]
        kept: list[tuple[int, Click]] = []
        outside, wrong = [], []
        moved = {int(i): xy for i, xy in zip(data["kp_ids"], np.asarray(data["keypoints"]).reshape(-1, 2))}
        for i, c in enumerate(clicks):
            if i not in moved:
                outside.append(i)
                continue
            px, py = int(np.floor(moved[i][0] + 0.5)), int(np.floor(moved[i][1] + 0.5))
            if not (0 <= px < w and 0 <= py < h):
                outside.append(i)
                continue
            ref = inst[c.instance] if 0 <= c.instance < len(inst) else mask
            v = int(ref[py, px])
            if v == self.ignore:  # landed on padding: outside the photograph
                outside.append(i)
            elif (v == 1) != c.positive:
                wrong.append(i)
            else:
                kept.append((i, Click(px, py, c.positive, c.instance)))
        points = np.full((len(clicks), 2), np.nan, dtype=np.float64)
        for i, xy in moved.items():
            points[i] = xy
        return Result(image, mask, inst, kept, outside, wrong, applied, list(seed), points=points)

    def _collect_applied(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        applied = []
        for name, t in self.named:
            if t.params:
                applied.append({"name": name, "transform": type(t).__name__, "params": t.params})
        # sanity: same transforms, same order as albumentations' own record
        raw = [n for n, _ in data.get("applied_transforms", [])]
        if raw != [a["transform"] for a in applied]:  # pragma: no cover - would be an albumentations change
            raise RuntimeError(f"applied transforms disagree: {raw} vs {[a['transform'] for a in applied]}")
        return applied

    def apply(self, image: np.ndarray, mask: np.ndarray, seed: Sequence[int] | int | None = None,
              clicks: Sequence[Click] = (), instance_masks: Sequence[np.ndarray] = ()) -> Result:
        """One draw of the pipeline, no realism check."""
        if seed is None:
            seed = fresh_seed()
        seed_list = list(seed) if isinstance(seed, (list, tuple)) else [int(seed)]
        rng, py = rng_pair(seed_list)
        self.compose.set_random_state(rng, py)
        for _, t in self.named:  # params of transforms not called this time must not linger
            t.params = {}
        data = self.compose(**self._inputs(image, mask, clicks, instance_masks))
        applied = self._collect_applied(data)
        return self._outputs(data, clicks, applied, seed_list)

    # -- the checked call ---------------------------------------------------------------
    def __call__(self, image: np.ndarray, mask: np.ndarray, seed: Sequence[int] | int | None = None,
                 clicks: Sequence[Click] = (), instance_masks: Sequence[np.ndarray] = ()) -> Result:
        """Augment with the realism check: a result no camera would produce is redrawn.

        Attempt ``k`` uses ``[*seed, k]``; after ``realism.max_redraws`` redraws the last
        attempt is returned with ``rejections`` listing every failed check (the caller
        decides; the stage drops such variants and logs them).
        """
        rp = self.params.realism
        if seed is None:
            seed = fresh_seed()
        base = list(seed) if isinstance(seed, (list, tuple)) else [int(seed)]
        if not rp.enabled:
            res = self.apply(image, mask, [*base, 0], clicks, instance_masks)
            return res
        orig = realism.measure(image)
        rejections: list[str] = []
        for attempt in range(rp.max_redraws + 1):
            res = self.apply(image, mask, [*base, attempt], clicks, instance_masks)
            reasons = realism.check(realism.measure(res.image), rp, orig)
            res.attempts = attempt + 1
            if not reasons:
                res.rejections = rejections
                return res
            rejections.append(f"attempt {attempt}: " + "; ".join(reasons))
        res.rejections = rejections
        res.passed = False
        return res

    # -- replay -------------------------------------------------------------------------
    def replay(self, applied: list[dict[str, Any]], image: np.ndarray, mask: np.ndarray,
               clicks: Sequence[Click] = (), instance_masks: Sequence[np.ndarray] = ()) -> Result:
        """Reapply recorded transforms (``Result.applied_json()`` or ``.applied``) exactly, drawing nothing."""
        if self._replay_compose is None:
            named = [(n, copy.deepcopy(t)) for n, t in self.named]
            self._replay_compose = build_compose(named)
            self._replay_by_name = dict(named)
        by_name = self._replay_by_name
        record = {}
        for a in applied:
            if a["name"] not in by_name:
                raise ValueError(f"replay: transform {a['name']!r} is not in this pipeline (family switched off?)")
            if type(by_name[a["name"]]).__name__ != a["transform"]:
                raise ValueError(f"replay: {a['name']} is {type(by_name[a['name']]).__name__}, record says {a['transform']}")
            record[a["name"]] = decode_params(encode_params(a["params"]))
        for name, t in by_name.items():
            t.replay_mode = True
            t.applied_in_replay = name in record
            t.params = record.get(name, {})
        try:
            data = self._replay_compose(**self._inputs(image, mask, clicks, instance_masks))
        finally:
            for t in by_name.values():
                t.replay_mode = False
                t.applied_in_replay = False
        applied_out = [{"name": n, "transform": type(by_name[n]).__name__, "params": record[n]}
                       for n, _ in self.named if n in record]
        return self._outputs(data, clicks, applied_out, [])


def replay(record: dict[str, Any], image: np.ndarray, mask: np.ndarray, params: AugmentParams | None = None,
           clicks: Sequence[Click] = (), instance_masks: Sequence[np.ndarray] = ()) -> Result:
    """Reproduce a stored variant from its record (a ``variants.parquet`` row or ``{"transforms": ...}``).

    ``record["transforms"]`` is the JSON list (or its text) of applied transforms;
    ``params`` must be the augment params the variant was made with (``summary.json``).
    """
    import json

    transforms = record["transforms"]
    if isinstance(transforms, str):
        transforms = json.loads(transforms)
    return Augmenter(params).replay(transforms, image, mask, clicks, instance_masks)
