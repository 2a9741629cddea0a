"""Params of the ``augment`` section: realistic portrait augmentation.

One nested model per family (lighting, rotation, shade, motion_blur, framing), each
with ``enabled`` (switch the whole family off) and, per transform, its probability
``p`` and its strength. ``realism`` holds the bounds of the "could a camera have
produced this?" check. Ranges are ``[low, high]`` pairs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from portraitkit.params.base import Section, execution_field

Pair = tuple[float, float]


def _check_pair(name: str, pair: tuple[float, float]) -> None:
    if pair[0] > pair[1]:
        raise ValueError(f"{name}: low ({pair[0]:g}) > high ({pair[1]:g})")


class _Op(Section):
    p: float = Field(0.3, ge=0.0, le=1.0, description="Probability this transform is applied.")

    @model_validator(mode="after")
    def _pairs_ordered(self):
        for name, value in self:
            if isinstance(value, tuple) and len(value) == 2:
                _check_pair(name, value)
        return self


# ---- lighting ----------------------------------------------------------------------
class BrightnessContrastOp(_Op):
    p: float = Field(0.4, ge=0.0, le=1.0)
    brightness: float = Field(0.2, ge=0.0, le=1.0, description="Max brightness shift (fraction of full scale).")
    contrast: float = Field(0.25, ge=0.0, le=1.0, description="Max contrast change (fraction).")


class GammaOp(_Op):
    p: float = Field(0.3, ge=0.0, le=1.0)
    gamma: Pair = Field((70.0, 150.0), description="Gamma range in percent (100 = unchanged).")


class ToneCurveOp(_Op):
    p: float = Field(0.3, ge=0.0, le=1.0)
    strength: float = Field(0.1, ge=0.0, le=0.25, description="Max vertical move of each curve control point.")


class TemperatureOp(_Op):
    p: float = Field(0.3, ge=0.0, le=1.0)
    kelvin: Pair = Field((3200.0, 9500.0), description="Colour temperature range of the new light (K).")


class ColorJitterOp(_Op):
    p: float = Field(0.2, ge=0.0, le=1.0)
    saturation: float = Field(0.25, ge=0.0, le=1.0)
    hue: float = Field(0.02, ge=0.0, le=0.5, description="Max hue shift (fraction of the hue circle): keep skin skin.")


class LowLightOp(_Op):
    p: float = Field(0.2, ge=0.0, le=1.0)
    exposure: Pair = Field((0.12, 0.45), description="Fraction of the original light that is left.")
    contrast: Pair = Field((0.8, 1.0), description="Contrast kept around the mean (linear light).")
    shot_noise: Pair = Field((0.002, 0.01), description="Poisson-like noise gain (variance per unit signal).")
    read_noise: Pair = Field((0.002, 0.008), description="Signal-independent noise sigma (linear light).")


class LightingFamily(Section):
    enabled: bool = True
    low_light: LowLightOp = LowLightOp()
    brightness_contrast: BrightnessContrastOp = BrightnessContrastOp()
    gamma: GammaOp = GammaOp()
    tone_curve: ToneCurveOp = ToneCurveOp()
    temperature: TemperatureOp = TemperatureOp()
    color_jitter: ColorJitterOp = ColorJitterOp()


# ---- rotation ----------------------------------------------------------------------
class TiltOp(_Op):
    p: float = Field(0.4, ge=0.0, le=1.0)
    max_degrees: float = Field(12.0, ge=0.0, le=45.0, description="Tilt drawn from [-max, +max] degrees.")


class Rot90Op(_Op):
    p: float = Field(0.05, ge=0.0, le=1.0, description="A phone held sideways: +90 or -90 degrees.")


class RotationFamily(Section):
    enabled: bool = True
    tilt: TiltOp = TiltOp()
    rot90: Rot90Op = Rot90Op()


# ---- shade -------------------------------------------------------------------------
class CastShadowOp(_Op):
    p: float = Field(0.25, ge=0.0, le=1.0)
    darkness: Pair = Field((0.5, 0.85), description="Fraction of the (linear) light the shadow takes away.")
    softness: Pair = Field((0.01, 0.08), description="Penumbra width, fraction of the image diagonal.")
    band_probability: float = Field(0.5, ge=0.0, le=1.0, description="Stripe (pole, frame) vs edge (wall) shadow.")


class UnevenLightOp(_Op):
    p: float = Field(0.25, ge=0.0, le=1.0)
    strength: Pair = Field((0.25, 0.65), description="Fraction of the light lost at the darkest point.")


class ShadeFamily(Section):
    enabled: bool = True
    cast_shadow: CastShadowOp = CastShadowOp()
    uneven_light: UnevenLightOp = UnevenLightOp()


# ---- motion blur -------------------------------------------------------------------
class CameraShakeOp(_Op):
    p: float = Field(0.15, ge=0.0, le=1.0)
    kernel: tuple[int, int] = Field((5, 15), description="Blur kernel size range in pixels (odd sizes used).")


class SubjectMotionOp(_Op):
    p: float = Field(0.1, ge=0.0, le=1.0)
    kernel: tuple[int, int] = Field((3, 13), description="Linear motion blur length range in pixels.")


class MotionBlurFamily(Section):
    enabled: bool = True
    camera_shake: CameraShakeOp = CameraShakeOp()
    subject_motion: SubjectMotionOp = SubjectMotionOp()

    @model_validator(mode="after")
    def _kernels(self):
        for name, op in (("camera_shake", self.camera_shake), ("subject_motion", self.subject_motion)):
            if op.kernel[0] < 3:
                raise ValueError(f"{name}.kernel: low must be >= 3 (got {op.kernel[0]})")
        return self


# ---- framing -----------------------------------------------------------------------
class HFlipOp(_Op):
    p: float = Field(0.5, ge=0.0, le=1.0)


class ScaleCropOp(_Op):
    p: float = Field(0.5, ge=0.0, le=1.0)
    scale: Pair = Field((0.85, 1.3), description="Zoom range (>1 crops in, <1 pads out), aspect kept.")
    translate: float = Field(0.06, ge=0.0, le=0.5, description="Max shift, fraction of width/height.")


class FramingFamily(Section):
    enabled: bool = True
    hflip: HFlipOp = HFlipOp()
    scale_crop: ScaleCropOp = ScaleCropOp()


# ---- realism -----------------------------------------------------------------------
class RealismParams(Section):
    enabled: bool = True
    min_mean_luma: float = Field(0.08, ge=0.0, le=1.0, description="Mean luminance (0..1) floor: almost black.")
    max_mean_luma: float = Field(0.92, ge=0.0, le=1.0, description="Mean luminance ceiling: washed out.")
    max_clipped_fraction: float = Field(
        0.25, ge=0.0, le=1.0, description="Max fraction of pixels with luma <= 2 or >= 253 (crushed / blown out)."
    )
    min_rms_contrast: float = Field(0.06, ge=0.0, le=1.0, description="Std of luminance (0..1) floor: flat.")
    max_redraws: int = Field(5, ge=0, le=100, description="Redraws (with the next seed) before giving up.")

    @model_validator(mode="after")
    def _ordered(self):
        if self.min_mean_luma >= self.max_mean_luma:
            raise ValueError("min_mean_luma must be < max_mean_luma")
        return self


class AugmentParams(Section):
    variants: int = Field(4, ge=1, le=100, description="Augmented variants per train image.")
    mask_ignore_value: int = Field(
        255, ge=2, le=255, description="Mask value of padded borders (not person, not background): ignore in the loss."
    )
    image_border: Literal["reflect", "constant"] = Field(
        "reflect", description="How padded image borders are filled; the mask there is always the ignore value."
    )
    image_format: Literal["jpg", "png"] = "jpg"
    jpeg_quality: int = Field(95, ge=50, le=100)
    preview_images: int = Field(6, ge=0, le=50, description="Originals shown in preview.png.")
    preview_variants: int = Field(4, ge=1, le=16, description="Variants shown beside each original.")
    workers: int = execution_field(1, ge=1, description="Processes; outputs never depend on it.")
    lighting: LightingFamily = LightingFamily()
    rotation: RotationFamily = RotationFamily()
    shade: ShadeFamily = ShadeFamily()
    motion_blur: MotionBlurFamily = MotionBlurFamily()
    framing: FramingFamily = FramingFamily()
    realism: RealismParams = RealismParams()

    def without(self, *families: str) -> "AugmentParams":
        """A copy with the named families switched off (tests, ablations)."""
        data = self.model_dump()
        for f in families:
            data[f]["enabled"] = False
        return type(self).model_validate(data)

    def only(self, *families: str) -> "AugmentParams":
        """A copy with every family but the named ones switched off."""
        return self.without(*(f for f in FAMILIES if f not in families))


FAMILIES = ("framing", "rotation", "shade", "motion_blur", "lighting")
