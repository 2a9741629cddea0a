"""A multi-point click sampler in the style of RITM (Sofiiuk et al. 2022, "Reviving Iterative
Training with Mask Guidance for Interactive Segmentation").

- Numbers of clicks: positives ``n in 1..M`` with ``P(n) ~ gamma**(n-1)``, negatives
  ``n in 0..M`` with ``P(n) ~ gamma**n`` (a geometric distribution truncated at M).
- Positives: distinct random pixels of the object eroded by ``pos_erode`` (``dt_in > pos_erode``);
  the whole object when the eroded one is empty.
- Negatives: the count is split over three sources with a multinomial draw: ``bg`` (anywhere in
  the image farther than the border ring), ``other`` (other objects of the image, off this
  object) and ``border`` (the ring just outside the object, width
  ``ceil(border_scale * sqrt(area))``); the probabilities are renormalised over the sources
  that exist. Negatives are distinct pixels.
"""

from __future__ import annotations

import bisect
import math
from functools import lru_cache

import numpy as np

from portraitkit.annotate.clicks.instance import InstanceMaps
from portraitkit.annotate.clicks.sampling import Sampler, as_points, as_sampler


@lru_cache(maxsize=64)
def _cdf(n_max: int, gamma: float, start: int) -> list[float]:
    return np.cumsum(geometric_probs(n_max, gamma, start)).tolist()


def geometric_probs(n_max: int, gamma: float, start: int) -> np.ndarray:
    """Probabilities of ``start..n_max`` proportional to ``gamma**(k - start)``."""
    k = np.arange(start, n_max + 1, dtype=np.float64)
    p = gamma ** (k - start)
    return p / p.sum()


def draw_geometric(rng: np.random.Generator, n_max: int, gamma: float, start: int) -> int:
    cdf = _cdf(n_max, float(gamma), start)
    return start + min(bisect.bisect_right(cdf, rng.random() * cdf[-1]), len(cdf) - 1)


def border_width(area: int, scale: float) -> int:
    """RITM's border ring width: ``ceil(scale * sqrt(area))``, at least 1."""
    return max(1, int(math.ceil(scale * math.sqrt(max(area, 0)))))


def multipoint_clicks(
    maps: InstanceMaps,
    rng: np.random.Generator | Sampler,
    max_points: int = 24,
    gamma: float = 0.8,
    pos_erode: float = 3,
    border_scale: float = 0.025,
    neg_probs: tuple[float, float, float] = (0.1, 0.4, 0.5),
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """One multi-point set: ``(positives, negatives, n_pos_requested, n_neg_requested)``.

    ``maps`` needs ``others`` for the ``other`` source (without it the other sources share its
    probability). Points are (m, 2) int arrays of image ``[x, y]`` (x = column, y = row); fewer
    than requested only when a source runs out of pixels (counted as shortfall by the caller).
    """
    pos, neg, n_pos, n_neg = multipoint_lists(
        maps, as_sampler(rng), max_points, gamma, pos_erode, border_scale, tuple(neg_probs)
    )
    return as_points(pos), as_points(neg), n_pos, n_neg


def multipoint_lists(
    maps: InstanceMaps,
    sampler: Sampler,
    max_points: int,
    gamma: float,
    pos_erode: float,
    border_scale: float,
    neg_probs: tuple[float, float, float],
) -> tuple[list, list, int, int]:
    """:func:`multipoint_clicks` with the clicks as lists of ``(x, y)`` (the stage's form)."""
    rng = sampler.rng
    n_pos = draw_geometric(rng, max_points, gamma, 1)
    n_neg = draw_geometric(rng, max_points, gamma, 0)
    if maps.area == 0:
        return [], [], n_pos, n_neg
    pos_cand, neg_p, sources = _instance_sources(maps, pos_erode, border_scale, neg_probs)
    positives = sampler.spaced_list(pos_cand, n_pos, 0)
    if n_neg == 0 or neg_p is None:
        return positives, [], n_pos, n_neg
    counts = rng.multinomial(n_neg, neg_p).tolist()
    negatives: list = []
    for i in range(3):
        if counts[i]:
            negatives += sampler.spaced_list(sources[i], counts[i], 0, avoid=negatives)
    return positives, negatives, n_pos, n_neg


def _instance_sources(maps: InstanceMaps, pos_erode: float, border_scale: float, neg_probs: tuple) -> tuple:
    """``(positive candidates, negative source probabilities or None, negative sources)`` of one
    object: the same for every set, so worked out once per instance."""

    def make() -> tuple:
        pos_cand = maps.inside_strict(pos_erode)
        if not maps.any_inside_strict(pos_erode):  # nothing survives the erosion: use the whole object
            pos_cand = maps.inside(0)
        ring = border_width(maps.area, border_scale)
        has = np.array([maps.area < maps.height * maps.width, maps.has_others(), True], bool)
        p = np.asarray(neg_probs, np.float64) * has
        neg_p = p / p.sum() if p.sum() > 0 else None
        sources = (maps.outside_beyond(ring), maps.other_objects(0), maps.ring(1e-6, ring))
        return pos_cand, neg_p, sources

    return maps.memo(("multipoint", float(pos_erode), float(border_scale), neg_probs), make)
