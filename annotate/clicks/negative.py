"""The three negative-click strategies of Xu et al. 2016, "Deep Interactive Object Selection".

1. ``xu_negatives_background``: random background points at distance ``d_margin`` .. ``D`` from
   the object, pairwise at least ``d_step`` apart.
2. ``xu_negatives_other_objects``: random points on the other objects of the image, at least
   ``d_margin`` from the object, pairwise at least ``d_step`` apart.
3. ``xu_negatives_boundary``: points spread along the outside of the boundary (outside pixels
   at distance ``d_margin`` .. ``d_margin + band``), chosen by greedy farthest-point cover.

All return an (m, 2) int array of image ``[x, y]`` (x = column, y = row); fewer than requested
(possibly none) only when no valid point is left.
"""

from __future__ import annotations

import numpy as np

from portraitkit.annotate.clicks.instance import Candidates, InstanceMaps
from portraitkit.annotate.clicks.positive import as_maps
from portraitkit.annotate.clicks.sampling import Sampler, farthest_point_cover, spaced_sample


def xu_negatives_background(
    mask_or_maps: np.ndarray | InstanceMaps,
    n: int,
    d_margin: float,
    d_step: float,
    d_max: float,
    rng: np.random.Generator | Sampler,
) -> np.ndarray:
    """Strategy 1. With a plain mask, the crop is built here (reach ``d_max``)."""
    maps = as_maps(mask_or_maps, reach=d_max)
    return spaced_sample(background_candidates(maps, d_margin, d_max), n, d_step, rng)


def xu_negatives_other_objects(
    mask_or_maps: np.ndarray | InstanceMaps,
    n: int,
    d_margin: float,
    d_step: float,
    rng: np.random.Generator | Sampler,
    others: np.ndarray | None = None,
) -> np.ndarray:
    """Strategy 2: ``others`` is the H x W mask of the image's other objects (or set on the maps)."""
    maps = as_maps(mask_or_maps, reach=d_margin, others=others)
    return spaced_sample(other_object_candidates(maps, d_margin), n, d_step, rng)


def xu_negatives_boundary(
    mask_or_maps: np.ndarray | InstanceMaps,
    n: int,
    d_margin: float,
    band: float,
    rng: np.random.Generator | Sampler,
) -> np.ndarray:
    """Strategy 3: greedy farthest-point cover of the outer boundary band."""
    maps = as_maps(mask_or_maps, reach=d_margin + band)
    return farthest_point_cover(boundary_candidates(maps, d_margin, band), n, rng)


# Each strategy's candidate set, defined once: the functions above and the stage's
# strategy_set_lists (annotate.clicks.sets) both draw from these.


def background_candidates(maps: InstanceMaps, d_margin: float, d_max: float) -> Candidates:
    """Strategy 1's candidates: outside pixels at distance ``d_margin .. d_max``."""
    return maps.ring(d_margin, d_max)  # ring() keeps lo > 0: never the object itself


def other_object_candidates(maps: InstanceMaps, d_margin: float) -> Candidates:
    """Strategy 2's candidates: pixels of other objects at least ``d_margin`` from this one."""
    return maps.other_objects(d_margin)


def boundary_candidates(maps: InstanceMaps, d_margin: float, band: float) -> Candidates:
    """Strategy 3's candidates: outside pixels at distance ``d_margin .. d_margin + band``."""
    return maps.ring(d_margin, d_margin + band)
