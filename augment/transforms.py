"""Custom albumentations transforms for realistic portrait augmentation.

Every transform here is a proper albumentations transform: random draws happen in
``get_params`` from the generators albumentations hands it (``self.py_random`` /
``self.random_generator``, set by the pipeline per call), and ``apply`` is a pure
function of the image and those params. Params are small JSON-able values (noise and
blur kernels are stored as seeds, never as arrays), so ``data["applied_transforms"]``
can be saved and replayed exactly.

Images are uint8 RGB (H, W, 3). Photometric work happens in approximately linear
light (sRGB-ish gamma 2.2) where physics says it should: exposure, shadows, white
balance and sensor noise are multiplicative / additive in linear light, not in
gamma-encoded values.

Geometry:

* ``ReflectAffine``: ``A.Affine`` whose image border is filled by reflection (looks
  like a photograph) while the mask border is filled with the ignore value (and
  keypoints never get reflected copies), so reflected content is never taught as
  person or background.
* ``PhoneRotate90``: a 90 degree turn one way or the other (never 180: phones are
  not held upside down).
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
from pydantic import Field

import albumentations as A
from albumentations.augmentations.geometric import functional as fgeometric
from albumentations.core.transforms_interface import BaseTransformInitSchema, ImageOnlyTransform

GAMMA = 2.2
_LIN = (np.arange(256, dtype=np.float32) / 255.0) ** GAMMA  # sRGB-ish code value -> linear light
_LIN_LUT = _LIN.reshape(256, 1)
# sqrt(linear light) quantised to 16 bits -> code value: the square root spends the table's
# steps where the eye needs them (every dark code keeps its own value), and a table lookup
# replaces a per-pixel pow
_ENC_LUT = (((np.arange(65536, dtype=np.float64) / 65535.0) ** 2) ** (1.0 / GAMMA) * 255.0 + 0.5).astype(np.uint8)


def _to_linear(img: np.ndarray) -> np.ndarray:
    """uint8 code values -> float32 linear light (0..1)."""
    return cv2.LUT(img, _LIN_LUT)


def _from_linear(lin: np.ndarray) -> np.ndarray:
    """float32 linear light -> uint8 code values (clipped). Consumes ``lin``."""
    lin = np.asarray(lin, dtype=np.float32)
    np.clip(lin, 0.0, 1.0, out=lin)
    root = cv2.sqrt(lin)
    root *= 65535.0
    root += 0.5
    return _ENC_LUT[root.astype(np.uint16)]


def apply_linear_gain(img: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Multiply the *linear* light of ``img`` by ``gain`` (H, W) or (H, W, C), gains <= 1.

    With a pure power-law encoding, ``enc(lin * g) == code * g ** (1 / GAMMA)``, so this is
    exact without leaving code values: one pow on the gain map, one multiply.
    """
    g = cv2.pow(np.ascontiguousarray(gain, dtype=np.float32), 1.0 / GAMMA)
    if img.ndim == 3 and g.ndim == 2:
        g = cv2.merge([g] * img.shape[2])
    out = cv2.multiply(img.astype(np.float32), g)
    out += 0.5
    return np.minimum(out, 255.0).astype(np.uint8)


def _lut_per_channel(img: np.ndarray, luts: np.ndarray) -> np.ndarray:
    """Apply a (3, 256) uint8 LUT, one row per channel."""
    lut = np.ascontiguousarray(luts.T.reshape(256, 1, 3))
    return cv2.LUT(img, lut)


def _uniform(py_random: Any, rng: tuple[float, float]) -> float:
    lo, hi = rng
    return lo + (hi - lo) * py_random.random()


# --------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------


class ReflectAffine(A.Affine):
    """``A.Affine`` with reflected image borders but ignore-filled mask borders.

    The image is padded with ``border_mode`` (reflection by default, so the picture
    still looks like a photograph), while masks are padded with the constant
    ``fill_mask`` (the ignore value) and keypoints are transformed without the
    reflected copies ``A.Affine`` makes for reflect modes.
    """

    def apply_to_mask(self, mask: np.ndarray, matrix: np.ndarray, output_shape: tuple[int, int], **params: Any):
        return fgeometric.warp_affine(
            mask,
            matrix,
            interpolation=self.mask_interpolation,
            fill=self.fill_mask,
            border_mode=cv2.BORDER_CONSTANT,
            output_shape=output_shape,
        )

    def apply_to_keypoints(self, keypoints: np.ndarray, matrix: np.ndarray, scale: dict[str, float], **params: Any):
        return fgeometric.keypoints_affine(keypoints, matrix, params["shape"], scale, cv2.BORDER_CONSTANT)


class PortraitGeometry(ReflectAffine):
    """Framing (zoom + shift, aspect kept) and tilt fused into one affine warp.

    Two families, one resampling: the photo is interpolated once and the mask
    nearest-sampled once, so the mask stays within a pixel of the true shape (two
    nearest-neighbour warps in a row can drift by more). Each part keeps its own
    probability: ``zoom_p`` (framing.scale_crop) and ``tilt_p`` (rotation.tilt) are
    independent, exactly as if they were two transforms; the transform itself fires
    when either part does. ``params["zoom"]`` / ``params["tilt"]`` record which did.
    """

    def __init__(
        self,
        zoom_p: float = 0.5,
        scale: tuple[float, float] = (0.85, 1.3),
        translate: float = 0.06,
        tilt_p: float = 0.4,
        max_degrees: float = 12.0,
        interpolation: int = cv2.INTER_LINEAR,
        mask_interpolation: int = cv2.INTER_NEAREST,
        border_mode: int = cv2.BORDER_REFLECT_101,
        fill: float = 0,
        fill_mask: float = 255,
    ):
        p_any = 1.0 - (1.0 - zoom_p) * (1.0 - tilt_p)
        super().__init__(
            interpolation=interpolation,
            mask_interpolation=mask_interpolation,
            border_mode=border_mode,
            fill=fill,
            fill_mask=fill_mask,
            p=p_any,
        )
        self.zoom_p = zoom_p
        self.zoom_scale = tuple(scale)
        self.translate = translate
        self.tilt_p = tilt_p
        self.max_degrees = max_degrees

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        r = self.py_random
        p_any = self.p
        # given that the transform fires: zoom with P(zoom | any), tilt with P(tilt | any, zoom)
        zoom = r.random() < (self.zoom_p / p_any if p_any > 0 else 0.0)
        tilt = (r.random() < self.tilt_p) if zoom else True
        if tilt and self.tilt_p <= 0.0:
            tilt, zoom = False, True
        h, w = params["shape"][:2]
        s, tx, ty, rot = 1.0, 0, 0, 0.0
        if zoom:
            s = r.uniform(*self.zoom_scale)
            tx = int(r.uniform(-self.translate, self.translate) * w)
            ty = int(r.uniform(-self.translate, self.translate) * h)
        if tilt:
            rot = r.uniform(-self.max_degrees, self.max_degrees)
        translate = {"x": tx, "y": ty}
        shear = {"x": 0.0, "y": 0.0}
        scale = {"x": s, "y": s}
        matrix = fgeometric.create_affine_transformation_matrix(
            translate, shear, scale, rot, fgeometric.center((h, w))
        )
        bbox_matrix = fgeometric.create_affine_transformation_matrix(
            translate, shear, scale, rot, fgeometric.center_bbox((h, w))
        )
        return {
            "zoom": zoom,
            "tilt": tilt,
            "rotate": rot,
            "scale": scale,
            "translate": translate,
            "matrix": matrix,
            "bbox_matrix": bbox_matrix,
            "output_shape": (h, w),
        }


class PhoneRotate90(A.RandomRotate90):
    """Rotate by +90 or -90 degrees (a phone held sideways), chosen with equal odds."""

    def get_params(self) -> dict[str, int]:
        return {"factor": 1 if self.py_random.random() < 0.5 else 3}


# --------------------------------------------------------------------------------------
# Lighting
# --------------------------------------------------------------------------------------


class ToneCurve(ImageOnlyTransform):
    """The "curves" adjustment of photo editors: a smooth monotone curve through control points.

    Control points sit at input 0.25 / 0.5 / 0.75; each is moved vertically by up to
    ``strength`` (shadows, midtones and highlights drawn independently, then sorted to
    keep the curve monotone). End points stay at 0 and 1. The curve is a monotone
    cubic (PCHIP), applied to all three channels through one LUT.
    """

    class InitSchema(BaseTransformInitSchema):
        strength: float = Field(ge=0.0, le=0.25)

    def __init__(self, strength: float = 0.1, p: float = 0.5):
        super().__init__(p=p)
        self.strength = strength

    def get_params(self) -> dict[str, Any]:
        xs = [0.25, 0.5, 0.75]
        ys = sorted(x + _uniform(self.py_random, (-self.strength, self.strength)) for x in xs)
        ys = [min(max(y, 0.02), 0.98) for y in ys]
        return {"points": [[x, y] for x, y in zip(xs, ys)]}

    @staticmethod
    def curve_lut(points: list[list[float]]) -> np.ndarray:
        from scipy.interpolate import PchipInterpolator

        xs = [0.0] + [p[0] for p in points] + [1.0]
        ys = [0.0] + [p[1] for p in points] + [1.0]
        ys = np.maximum.accumulate(np.asarray(ys, dtype=np.float64))
        f = PchipInterpolator(xs, ys)
        v = np.clip(f(np.arange(256) / 255.0), 0.0, 1.0)
        return (v * 255.0 + 0.5).astype(np.uint8)

    def apply(self, img: np.ndarray, points: list[list[float]], **params: Any) -> np.ndarray:
        return cv2.LUT(img, self.curve_lut(points))

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("strength",)


def kelvin_to_rgb(kelvin: float) -> np.ndarray:
    """Approximate RGB (0..1) of a black body at ``kelvin`` (Tanner Helland's fit)."""
    t = kelvin / 100.0
    if t <= 66:
        r = 255.0
        g = 99.4708025861 * math.log(t) - 161.1195681661
        b = 0.0 if t <= 19 else 138.5177312231 * math.log(t - 10) - 305.0447927307
    else:
        r = 329.698727446 * (t - 60) ** -0.1332047592
        g = 288.1221695283 * (t - 60) ** -0.0755148492
        b = 255.0
    return np.clip(np.array([r, g, b], dtype=np.float64), 1.0, 255.0) / 255.0


class ColorTemperature(ImageOnlyTransform):
    """Change the white balance as if the scene were lit at ``kelvin`` instead of 6500 K.

    Per-channel gains (light of ``kelvin`` relative to daylight), normalised so the
    luminance of grey stays the same, applied in linear light. Low kelvin = warm
    tungsten look, high kelvin = cold shade / overcast look.
    """

    class InitSchema(BaseTransformInitSchema):
        kelvin: tuple[float, float]

    def __init__(self, kelvin: tuple[float, float] = (3500.0, 9000.0), p: float = 0.5):
        super().__init__(p=p)
        self.kelvin = tuple(kelvin)

    def get_params(self) -> dict[str, Any]:
        # Sample in mired (1e6 / K): perceptually uniform, as photo editors do.
        lo, hi = 1e6 / self.kelvin[1], 1e6 / self.kelvin[0]
        return {"kelvin": 1e6 / _uniform(self.py_random, (lo, hi))}

    @staticmethod
    def gains(kelvin: float) -> np.ndarray:
        g = kelvin_to_rgb(kelvin) / kelvin_to_rgb(6500.0)
        luma = 0.2126 * g[0] + 0.7152 * g[1] + 0.0722 * g[2]
        return g / luma

    def apply(self, img: np.ndarray, kelvin: float, **params: Any) -> np.ndarray:
        g = self.gains(kelvin).astype(np.float32)
        luts = np.stack([_from_linear(_LIN * g[c]) for c in range(3)])
        return _lut_per_channel(img, luts)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("kelvin",)


class LowLight(ImageOnlyTransform):
    """A night / dim-room shot: less light, lower contrast, sensor noise.

    In linear light: multiply by ``exposure`` (fraction of the original light), pull
    contrast towards the mean by ``contrast``, lift the black level a little (veiling glare),
    then add Poisson-Gaussian sensor noise (shot noise grows with the signal, read
    noise does not) with a slightly coarser colour (chroma) component, as a small
    sensor at high ISO produces, and fade the colours (``saturation``). The noise
    comes from ``noise_seed`` so it replays.
    """

    class InitSchema(BaseTransformInitSchema):
        exposure: tuple[float, float]
        contrast: tuple[float, float]
        shot_noise: tuple[float, float]
        read_noise: tuple[float, float]

    def __init__(
        self,
        exposure: tuple[float, float] = (0.15, 0.5),
        contrast: tuple[float, float] = (0.8, 1.0),
        shot_noise: tuple[float, float] = (0.002, 0.01),
        read_noise: tuple[float, float] = (0.002, 0.008),
        p: float = 0.5,
    ):
        super().__init__(p=p)
        self.exposure = tuple(exposure)
        self.contrast = tuple(contrast)
        self.shot_noise = tuple(shot_noise)
        self.read_noise = tuple(read_noise)

    def get_params(self) -> dict[str, Any]:
        return {
            "exposure": _uniform(self.py_random, self.exposure),
            "contrast": _uniform(self.py_random, self.contrast),
            "shot_noise": _uniform(self.py_random, self.shot_noise),
            "read_noise": _uniform(self.py_random, self.read_noise),
            # the darker, the greyer
            "saturation": 0.55 + 0.4 * self.py_random.random(),
            "noise_seed": self.py_random.getrandbits(63),
        }

    def apply(
        self,
        img: np.ndarray,
        exposure: float,
        contrast: float,
        shot_noise: float,
        read_noise: float,
        noise_seed: int,
        saturation: float = 1.0,
        **params: Any,
    ) -> np.ndarray:
        lin = _to_linear(img) * np.float32(exposure)
        mean = float(lin.mean())
        lin = mean + (lin - mean) * np.float32(contrast)
        lin = lin + np.float32(0.03 * mean)  # veiling glare: a little of the scene light lifts the blacks
        np.maximum(lin, 0.0, out=lin)
        rng = np.random.default_rng(noise_seed)
        h, w = img.shape[:2]
        sigma = np.sqrt(np.float32(shot_noise) * lin + np.float32(read_noise) ** 2)
        luma_noise = rng.standard_normal((h, w, 1), dtype=np.float32)
        ch, cw = (h + 1) // 2, (w + 1) // 2
        chroma = rng.standard_normal((ch, cw, 3), dtype=np.float32)
        chroma = cv2.resize(chroma, (w, h), interpolation=cv2.INTER_LINEAR)
        lin = lin + sigma * (0.8 * luma_noise + 0.6 * chroma)
        # colour fades in the dark (noise reduction and the eye's own night vision): desaturate
        luma = lin @ np.array([0.2126, 0.7152, 0.0722], np.float32)
        lin = luma[..., None] + (lin - luma[..., None]) * np.float32(saturation)
        return _from_linear(lin)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("exposure", "contrast", "shot_noise", "read_noise")


# --------------------------------------------------------------------------------------
# Shade
# --------------------------------------------------------------------------------------


def _soft_step(d: np.ndarray, softness: float) -> np.ndarray:
    """0 -> 1 across a band of width ``softness`` around d = 0 (smoothstep)."""
    t = np.clip(d / max(softness, 1e-6) + 0.5, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


class CastShadow(ImageOnlyTransform):
    """A shadow cast across the scene (and the person) by something out of frame.

    ``edge``: everything beyond a straight line is in shadow (a wall, a building).
    ``band``: a stripe of shadow (a pole, a window frame, a branch). The shadow's line
    goes through a random point of the person's bounding box (from the mask), so it
    falls across the person, as the issue asks; the params store the line itself, so
    replay needs no mask. The penumbra is
    soft (``softness`` as a fraction of the image diagonal), and the shadow is lit by
    the bluish sky, so it keeps a little more blue than red. Applied in linear light.
    """

    class InitSchema(BaseTransformInitSchema):
        darkness: tuple[float, float]
        softness: tuple[float, float]
        band_probability: float = Field(ge=0.0, le=1.0)

    def __init__(
        self,
        darkness: tuple[float, float] = (0.5, 0.85),
        softness: tuple[float, float] = (0.01, 0.08),
        band_probability: float = 0.5,
        p: float = 0.5,
    ):
        super().__init__(p=p)
        self.darkness = tuple(darkness)
        self.softness = tuple(softness)
        self.band_probability = band_probability

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        r = self.py_random
        h, w = params["shape"][:2]
        angle = r.uniform(0.0, 360.0)
        # the shadow line passes through a random point of the person's box (the whole
        # frame when there is no mask or no person), so it falls across the person
        x0, y0, bw, bh = 0, 0, w, h
        mask = data.get("mask")
        if mask is not None:
            box = cv2.boundingRect((mask == 1).view(np.uint8))
            if box[2] > 0 and box[3] > 0:
                x0, y0, bw, bh = box
        px, py = x0 + r.random() * bw, y0 + r.random() * bh
        a = math.radians(angle)
        diag = math.hypot(h, w)
        # signed distance of that point from the centre along the normal, as ``shadow_map`` measures it
        offset = 2.0 * ((px - (w - 1) / 2.0) * math.cos(a) + (py - (h - 1) / 2.0) * math.sin(a)) / diag
        return {
            "kind": "band" if r.random() < self.band_probability else "edge",
            "angle": angle,
            "offset": offset,
            "width": r.uniform(0.08, 0.3),
            "darkness": _uniform(r, self.darkness),
            "softness": _uniform(r, self.softness),
        }

    @staticmethod
    def shadow_map(shape: tuple[int, int], kind: str, angle: float, offset: float, width: float, softness: float):
        h, w = shape
        diag = math.hypot(h, w)
        a = math.radians(angle)
        nx, ny = math.cos(a), math.sin(a)
        xs = (np.arange(w, dtype=np.float32) - (w - 1) / 2.0) * np.float32(nx / diag)
        ys = (np.arange(h, dtype=np.float32) - (h - 1) / 2.0) * np.float32(ny / diag)
        d = ys[:, None] + xs[None, :] - np.float32(offset / 2.0)  # signed distance / diagonal
        if kind == "band":
            return _soft_step(np.float32(width / 2.0) - np.abs(d), softness)
        return _soft_step(d, softness)

    def apply(self, img: np.ndarray, kind: str, angle: float, offset: float, width: float, darkness: float,
              softness: float, **params: Any) -> np.ndarray:
        s = self.shadow_map(img.shape[:2], kind, angle, offset, width, softness)
        # In shadow a surface gets (1 - darkness) of the sun-lit light, and skylight is bluer.
        shadow_gain = np.minimum((1.0 - np.float32(darkness)) * np.array([1.0, 1.0, 1.12], np.float32), 1.0)
        gains = [1.0 - s * np.float32(1.0 - g) for g in shadow_gain]
        return apply_linear_gain(img, cv2.merge(gains) if img.ndim == 3 else gains[0])

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("darkness", "softness", "band_probability")


class UnevenIllumination(ImageOnlyTransform):
    """Light that falls off across the frame: a window on one side, a lamp off-centre.

    ``gradient``: light falls off linearly along a random direction.
    ``spot``: a broad off-centre pool of light, darker towards the far side.
    ``strength`` is the fraction of light lost at the darkest point (linear light).
    """

    class InitSchema(BaseTransformInitSchema):
        strength: tuple[float, float]

    def __init__(self, strength: tuple[float, float] = (0.3, 0.7), p: float = 0.5):
        super().__init__(p=p)
        self.strength = tuple(strength)

    def get_params(self) -> dict[str, Any]:
        r = self.py_random
        return {
            "kind": "gradient" if r.random() < 0.5 else "spot",
            "angle": r.uniform(0.0, 360.0),
            "cx": r.uniform(-0.2, 1.2),
            "cy": r.uniform(-0.2, 1.2),
            "radius": r.uniform(0.6, 1.4),
            "strength": _uniform(r, self.strength),
        }

    @staticmethod
    def light_map(shape: tuple[int, int], kind: str, angle: float, cx: float, cy: float, radius: float,
                  strength: float) -> np.ndarray:
        h, w = shape
        u = (np.arange(w, dtype=np.float32) + 0.5) / w
        v = (np.arange(h, dtype=np.float32) + 0.5) / h
        if kind == "gradient":
            a = math.radians(angle)
            t = (u[None, :] - 0.5) * np.float32(math.cos(a)) + (v[:, None] - 0.5) * np.float32(math.sin(a))
            t = np.clip(t / np.float32(math.sqrt(0.5)) * 0.5 + 0.5, 0.0, 1.0)
        else:
            aspect = w / h
            d2 = ((u[None, :] - cx) * aspect) ** 2 + (v[:, None] - cy) ** 2
            t = np.clip(np.sqrt(d2) / np.float32(radius * max(aspect, 1.0)), 0.0, 1.0)
            t = t * t * (3.0 - 2.0 * t)
        return (1.0 - np.float32(strength) * t).astype(np.float32)

    def apply(self, img: np.ndarray, kind: str, angle: float, cx: float, cy: float, radius: float,
              strength: float, **params: Any) -> np.ndarray:
        g = self.light_map(img.shape[:2], kind, angle, cx, cy, radius, strength)
        return apply_linear_gain(img, g)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("strength",)


# --------------------------------------------------------------------------------------
# Motion blur
# --------------------------------------------------------------------------------------


def _splat_kernel(pos: np.ndarray, size: int) -> np.ndarray:
    """Kernel from trajectory points (relative to the centre), bilinear splat, sum 1.

    The caller centres ``pos`` on its mean; bilinear splatting keeps that sub-pixel
    centre of mass, so the kernel never shifts the image against the mask.
    """
    c = (size - 1) / 2.0
    k = np.zeros((size, size), dtype=np.float64)
    x = pos[:, 0] + c
    y = pos[:, 1] + c
    x0 = np.floor(x).astype(int)
    y0 = np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    for dx, dy, wgt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(k, (np.clip(y0 + dy, 0, size - 1), np.clip(x0 + dx, 0, size - 1)), wgt)
    k /= k.sum()
    return k.astype(np.float32)


def shake_kernel(size: int, seed: int) -> np.ndarray:
    """A camera-shake blur kernel: a smooth random-walk trajectory, centred on its mass."""
    rng = np.random.default_rng(seed)
    n = 64
    acc = rng.standard_normal((n, 2)) * 0.6 + rng.standard_normal(2) * 0.8
    pos = np.cumsum(np.cumsum(acc, axis=0), axis=0)
    pos -= pos.mean(axis=0)
    extent = np.abs(pos).max()
    if extent > 0:
        pos *= ((size - 1) / 2.0 - 1.0) / extent  # keep one pixel of margin for the splat
    pos -= pos.mean(axis=0)
    return _splat_kernel(pos, size)


def line_kernel(length: float, angle: float) -> np.ndarray:
    """A straight motion-blur kernel of ``length`` pixels at ``angle`` degrees, centred."""
    size = int(math.ceil(length)) | 1
    size += 2
    t = np.linspace(-0.5, 0.5, max(int(length * 4), 2))
    a = math.radians(angle)
    pos = np.stack([t * (length - 1) * math.cos(a), t * (length - 1) * math.sin(a)], axis=1)
    return _splat_kernel(pos, size)


class SubjectMotion(ImageOnlyTransform):
    """A subject (or panning camera) moving during the exposure: straight motion blur (image only).

    Unlike ``A.MotionBlur`` the kernel's centre of mass is exactly its centre, so the
    blurred person stays exactly on the sharp mask.
    """

    class InitSchema(BaseTransformInitSchema):
        kernel: tuple[int, int]

    def __init__(self, kernel: tuple[int, int] = (3, 13), p: float = 0.5):
        super().__init__(p=p)
        self.kernel = tuple(kernel)

    def get_params(self) -> dict[str, Any]:
        return {"length": _uniform(self.py_random, self.kernel), "angle": self.py_random.uniform(0.0, 180.0)}

    def apply(self, img: np.ndarray, length: float, angle: float, **params: Any) -> np.ndarray:
        return cv2.filter2D(img, -1, line_kernel(length, angle), borderType=cv2.BORDER_REFLECT_101)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("kernel",)


class CameraShake(ImageOnlyTransform):
    """Hand-held camera shake: blur along a curved random trajectory (image only)."""

    class InitSchema(BaseTransformInitSchema):
        kernel: tuple[int, int]

    def __init__(self, kernel: tuple[int, int] = (5, 15), p: float = 0.5):
        super().__init__(p=p)
        self.kernel = tuple(kernel)

    def get_params(self) -> dict[str, Any]:
        lo, hi = self.kernel
        size = self.py_random.randint(lo, hi) | 1
        return {"kernel_size": size, "kernel_seed": self.py_random.getrandbits(63)}

    def apply(self, img: np.ndarray, kernel_size: int, kernel_seed: int, **params: Any) -> np.ndarray:
        k = shake_kernel(kernel_size, kernel_seed)
        return cv2.filter2D(img, -1, k, borderType=cv2.BORDER_REFLECT_101)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("kernel",)


__all__ = [
    "ReflectAffine",
    "PhoneRotate90",
    "PortraitGeometry",
    "ToneCurve",
    "ColorTemperature",
    "LowLight",
    "CastShadow",
    "UnevenIllumination",
    "CameraShake",
    "SubjectMotion",
    "shake_kernel",
    "line_kernel",
    "kelvin_to_rgb",
]
