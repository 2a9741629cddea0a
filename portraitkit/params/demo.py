"""Params of the ``demo`` section: the built-in synthetic COCO stand-in."""

from __future__ import annotations

from pydantic import Field, model_validator

from portraitkit.params.base import Section


class DemoMix(Section):
    """How many images of each scene kind in every block of ``sum(mix)`` consecutive images.

    portrait/pair: 1-2 people covering 20-70 % (pass the default curate rules); bodypart: a limb
    entering from the border (half of them with a portrait person); none: no person; group:
    3-5 people; tiny: people under 20 %; closeup: one person over 70 %; crowd: an iscrowd group.
    """

    portrait: int = Field(5, ge=0)
    pair: int = Field(3, ge=0)
    bodypart: int = Field(2, ge=0)
    none: int = Field(2, ge=0)
    group: int = Field(2, ge=0)
    tiny: int = Field(2, ge=0)
    closeup: int = Field(2, ge=0)
    crowd: int = Field(2, ge=0)

    @model_validator(mode="after")
    def _not_empty(self) -> "DemoMix":
        if sum(self.model_dump().values()) < 1:
            raise ValueError("at least one scene kind needs a count above 0")
        return self


class DemoParams(Section):
    images: int = Field(240, ge=1, description="Number of demo images to generate.")
    seed: int = Field(7, ge=0, lt=2**63, strict=True, description="Seed of the demo generator.")
    long_side_min: int = Field(320, ge=64, le=4096, description="Shortest possible longest side of a photo, px.")
    long_side_max: int = Field(640, ge=64, le=4096, description="Longest possible longest side of a photo, px.")
    jpeg_quality: int = Field(90, ge=50, le=100, description="Fixed JPEG quality (output stays byte-identical).")
    coarse_fraction: float = Field(
        0.25, ge=0.0, le=1.0, description="Share of person polygons made deliberately coarse, like some of COCO's."
    )
    polygon_epsilon: float = Field(
        0.6, gt=0.0, le=2.0, description="approxPolyDP tolerance (px) of the faithful polygons."
    )
    mix: DemoMix = DemoMix()

    @model_validator(mode="after")
    def _ranges(self) -> "DemoParams":
        if self.long_side_min > self.long_side_max:
            raise ValueError(f"long_side_min ({self.long_side_min}) > long_side_max ({self.long_side_max})")
        return self
