"""Click sets per strategy: the names, their generators and the per-instance seeding.

Strategies (``clicks.strategies`` in params.yaml):

- ``xu_pos_neg1``: Xu positives + strategy-1 negatives (random background within D).
- ``xu_pos_neg2``: Xu positives + strategy-2 negatives (on other objects of the image).
- ``xu_pos_neg3``: Xu positives + strategy-3 negatives (farthest-point cover of the outer boundary).
- ``multipoint``: the RITM-style multi-point sampler (:mod:`annotate.clicks.multipoint`).

The K sets of one strategy and instance are drawn in order from one generator,
:func:`~annotate.clicks.sampling.instance_rng` ``(seed, code, annotation_id)`` with ``code`` the
strategy's fixed number below (through one :class:`~annotate.clicks.sampling.Sampler`). So a set never
depends on other strategies, instances or workers; set k depends on the sets before it of the
same strategy and instance only (fewer sets per strategy leave the first ones unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from portraitkit.annotate.clicks.instance import InstanceMaps, Layer
from portraitkit.annotate.clicks.multipoint import border_width, multipoint_lists
from portraitkit.annotate.clicks.negative import background_candidates, boundary_candidates, other_object_candidates
from portraitkit.annotate.clicks.positive import positive_candidates
from portraitkit.annotate.clicks.sampling import Sampler, as_points, as_sampler, draw_count, reused_instance_rng
from portraitkit.params import ClicksParams

# Fixed numbers: part of the seed, never renumber.
STRATEGY_CODES: dict[str, int] = {"xu_pos_neg1": 1, "xu_pos_neg2": 2, "xu_pos_neg3": 3, "multipoint": 4}


@dataclass
class ClickSet:
    """Positive and negative clicks as (m, 2) int arrays of image ``[x, y]`` (x = column, y = row)."""

    positives: np.ndarray
    negatives: np.ndarray
    n_pos_requested: int
    n_neg_requested: int

    @property
    def shortfall(self) -> int:
        """Clicks requested but not produced (no valid point left: tiny object, no other objects, ...)."""
        return self.n_pos_requested + self.n_neg_requested - len(self.positives) - len(self.negatives)


def reach(params: ClicksParams, area: int) -> float:
    """How far outside the object these params look (sizes the lazily computed ``dt_out`` crop)."""
    return max(params.d_max, params.d_margin + params.neg3_band, border_width(area, params.mp_border_scale), 1.0)


def build_maps(mask: np.ndarray, params: ClicksParams, others: np.ndarray | Layer | None = None) -> InstanceMaps:
    """The :class:`InstanceMaps` every strategy of ``params`` can use (see ``InstanceMaps.build``).

    ``mask``: H x W, nonzero on the object; ``others``: H x W, nonzero on the image's other objects.
    """
    area = int(np.count_nonzero(mask))
    return InstanceMaps.build(mask, reach(params, area), others)


def build_maps_from_crop(
    height: int, width: int, x0: int, y0: int, crop: np.ndarray, params: ClicksParams, others: Layer | None = None
) -> InstanceMaps:
    """:func:`build_maps` for an object given as a crop placed at (x0, y0) of an H x W image."""
    area = int(np.count_nonzero(crop))
    return InstanceMaps.from_crop(height, width, x0, y0, crop, reach(params, area), others)


def simulate(
    maps: InstanceMaps, strategy: str, params: ClicksParams, rng: np.random.Generator | Sampler
) -> ClickSet:
    """One click set of ``strategy`` for the object of ``maps`` (see :func:`build_maps`).

    ``rng``: a generator, or a :class:`~annotate.clicks.sampling.Sampler` shared by the
    successive sets of one strategy (K calls on one sampler give :func:`instance_sets`' sets).
    """
    pos, neg, npr, nnr = strategy_set_lists(maps, strategy, params, as_sampler(rng), 1)[0]
    return ClickSet(as_points(pos), as_points(neg), npr, nnr)


def instance_sets(
    maps: InstanceMaps, annotation_id: int, params: ClicksParams, seed: int
) -> list[tuple[str, int, ClickSet]]:
    """All ``(strategy, set_index, ClickSet)`` of one instance, K per strategy of ``params``."""
    return [
        (strategy, k, ClickSet(as_points(pos), as_points(neg), npr, nnr))
        for strategy, k, pos, neg, npr, nnr in instance_set_lists(maps, annotation_id, params, seed)
    ]


def instance_set_lists(maps: InstanceMaps, annotation_id: int, params: ClicksParams, seed: int) -> list[tuple]:
    """:func:`instance_sets` as ``(strategy, set_index, positives, negatives, n_pos_requested,
    n_neg_requested)`` with the clicks as lists of ``(x, y)``: the stage's form, without an
    array per set."""
    out: list[tuple] = []
    for strategy in params.strategies:
        # each strategy's sets are finished before the next strategy's generator is made
        sampler = Sampler(reused_instance_rng(seed, STRATEGY_CODES[strategy], annotation_id))
        sets = strategy_set_lists(maps, strategy, params, sampler, params.sets_per_strategy)
        out.extend((strategy, k, *cs) for k, cs in enumerate(sets))
    return out


def strategy_set_lists(
    maps: InstanceMaps, strategy: str, params: ClicksParams, sampler: Sampler, count: int
) -> list[tuple[list, list, int, int]]:
    """``count`` successive sets of ``strategy`` from ``sampler``: ``(positives, negatives,
    n_pos_requested, n_neg_requested)`` with the clicks as lists of ``(x, y)``."""
    p = params
    rng = sampler.rng
    if strategy == "multipoint":
        probs = (p.mp_neg_probs.bg, p.mp_neg_probs.other, p.mp_neg_probs.border)
        return [
            multipoint_lists(maps, sampler, p.mp_max_points, p.mp_gamma, p.mp_pos_erode, p.mp_border_scale, probs)
            for _ in range(count)
        ]
    if strategy not in STRATEGY_CODES:
        raise ValueError(f"unknown strategy {strategy!r} (known: {', '.join(STRATEGY_CODES)})")
    pos_cand = positive_candidates(maps, p.d_margin)
    if strategy == "xu_pos_neg3":
        cand = boundary_candidates(maps, p.d_margin, p.neg3_band)
        drawn = []
        for _ in range(count):
            n_pos = draw_count(rng, p.n_pos)
            n_neg = draw_count(rng, p.n_neg3)
            pos = sampler.spaced_list(pos_cand, n_pos, p.d_step)
            drawn.append((pos, n_pos, n_neg, sampler.cover_start(cand, n_neg)))
        # a cover is fixed once its start is drawn: the covers of all sets are computed together
        negs = sampler.covers(cand, [(n_neg, start) for _, _, n_neg, start in drawn])
        return [(pos, list(map(tuple, neg.tolist())), n_pos, n_neg) for (pos, n_pos, n_neg, _), neg in zip(drawn, negs)]
    if strategy == "xu_pos_neg1":
        neg_cand, neg_range = background_candidates(maps, p.d_margin, p.d_max), p.n_neg1
    else:
        neg_cand, neg_range = other_object_candidates(maps, p.d_margin), p.n_neg2
    out = []
    for _ in range(count):
        n_pos = draw_count(rng, p.n_pos)
        n_neg = draw_count(rng, neg_range)
        pos = sampler.spaced_list(pos_cand, n_pos, p.d_step)
        out.append((pos, sampler.spaced_list(neg_cand, n_neg, p.d_step), n_pos, n_neg))
    return out
