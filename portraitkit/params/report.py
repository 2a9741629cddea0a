"""Params of the ``report`` section: what the HTML data report shows and how big it gets."""

from __future__ import annotations

from pydantic import Field

from portraitkit.params.base import Section


class ReportParams(Section):
    title: str = Field("portraitkit data report", description="Heading of the report page.")
    coarse_examples: int = Field(
        8, ge=0, le=100, description="Persons shown at each end (most / least coarse) of the coarse-mask gallery."
    )
    flag_examples: int = Field(8, ge=0, le=100, description="Body-part and held-object examples shown (each).")
    click_examples: int = Field(4, ge=0, le=50, description="Click overlays shown per click strategy.")
    thumb_px: int = Field(360, ge=64, le=2048, description="Longest side of gallery thumbnails, in pixels.")
    preview_px: int = Field(1600, ge=256, le=8192, description="Longest side of the augmentation preview grid.")
    jpeg_quality: int = Field(82, ge=30, le=100, description="JPEG quality of embedded photos.")
    coverage_bins: int = Field(20, ge=2, le=200, description="Bins of the coverage histogram over [0, 1].")
