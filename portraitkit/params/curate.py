"""Params of the ``curate`` section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from portraitkit.params.base import Section, execution_field

Policy = Literal["keep", "flag", "drop"]


class SplitFractions(Section):
    train: float = Field(0.7, ge=0.0, le=1.0)
    val: float = Field(0.2, ge=0.0, le=1.0)
    test: float = Field(0.1, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _sums_to_one(self) -> "SplitFractions":
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + val + test must sum to 1 (got {total:g})")
        return self


class CurateParams(Section):
    person_category_id: int = Field(1, description="COCO category id of 'person'.")
    min_persons: int = Field(1, ge=0)
    max_persons: int = Field(2, ge=0)
    min_coverage: float = Field(0.20, ge=0.0, le=1.0, description="Union person mask / image area, lower bound.")
    max_coverage: float = Field(0.70, ge=0.0, le=1.0, description="Union person mask / image area, upper bound.")
    split: SplitFractions = SplitFractions()
    body_part_policy: Policy = Field("flag", description="Persons with num_keypoints 0 (needs --keypoints).")
    held_object_policy: Policy = Field("flag", description="Listed categories overlapping a person.")
    held_object_categories: list[str] = Field(
        default_factory=lambda: [
            "dog", "cat", "horse", "sports ball", "baseball bat", "baseball glove",
            "tennis racket", "frisbee", "skateboard", "surfboard", "skis", "snowboard", "kite", "umbrella",
        ]
    )
    held_object_touch_px: int = Field(
        3, ge=0, description="An object within this many pixels of a person's mask counts as overlapping."
    )
    workers: int = execution_field(2, ge=1, description="Processes for mask rasterisation; outputs never depend on it.")

    @model_validator(mode="after")
    def _ranges(self) -> "CurateParams":
        if self.min_persons > self.max_persons:
            raise ValueError(f"min_persons ({self.min_persons}) > max_persons ({self.max_persons})")
        if self.min_coverage > self.max_coverage:
            raise ValueError(f"min_coverage ({self.min_coverage}) > max_coverage ({self.max_coverage})")
        return self
