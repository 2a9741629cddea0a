"""Params of the ``demo`` section: the built-in synthetic COCO stand-in."""

from pydantic import Field

from portraitkit.params.base import Section


class DemoParams(Section):
    images: int = Field(240, ge=1, description="Number of demo images to generate.")
    seed: int = Field(7, description="Seed of the demo generator.")
