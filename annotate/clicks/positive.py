"""Positive clicks of Xu et al. 2016, "Deep Interactive Object Selection" (CVPR).

1..N_pos points inside the object, each at least ``d_margin`` from the object boundary
(pixels outside the image count as outside the object) and at least ``d_step`` from each other.
"""

from __future__ import annotations

import numpy as np

from portraitkit.annotate.clicks.instance import Candidates, InstanceMaps
from portraitkit.annotate.clicks.sampling import Sampler, spaced_sample


def as_maps(mask_or_maps: np.ndarray | InstanceMaps, reach: float = 0.0, others: np.ndarray | None = None) -> InstanceMaps:
    if isinstance(mask_or_maps, InstanceMaps):
        return mask_or_maps
    return InstanceMaps.build(mask_or_maps, reach=reach, others=others)


def xu_positives(
    mask_or_maps: np.ndarray | InstanceMaps,
    n: int,
    d_margin: float,
    d_step: float,
    rng: np.random.Generator | Sampler,
) -> np.ndarray:
    """Up to ``n`` positive clicks as an (m, 2) int array of image ``[x, y]`` (x = column, y = row).

    Fewer than ``n`` (possibly none) when the object has no more valid points: tiny or thin
    objects whose interior is nowhere ``d_margin`` deep.
    """
    return spaced_sample(positive_candidates(as_maps(mask_or_maps), d_margin), n, d_step, rng)


def positive_candidates(maps: InstanceMaps, d_margin: float) -> Candidates:
    """The positives' candidates: object pixels at least ``d_margin`` from the boundary."""
    return maps.inside(d_margin)
