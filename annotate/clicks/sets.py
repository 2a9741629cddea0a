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

from annotate.clicks.instance import InstanceMaps, Layer
from annotate.clicks.multipoint import border_width, multipoint_clicks
from annotate.clicks.negative import (
    boundary_candidates,
    xu_negatives_background,
    xu_negatives_boundary,
    xu_negatives_other_objects,
)
from annotate.clicks.positive import xu_positives
from annotate.clicks.sampling import Sampler, as_sampler, draw_count, reused_instance_rng
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
    successive sets of one strategy (what :func:`instance_sets` does).
    """
    p = params
    sampler = as_sampler(rng)
    if strategy == "multipoint":
        pos, neg, npr, nnr = multipoint_clicks(
            maps,
            sampler,
            max_points=p.mp_max_points,
            gamma=p.mp_gamma,
            pos_erode=p.mp_pos_erode,
            border_scale=p.mp_border_scale,
            neg_probs=(p.mp_neg_probs.bg, p.mp_neg_probs.other, p.mp_neg_probs.border),
        )
        return ClickSet(pos, neg, npr, nnr)
    if strategy not in STRATEGY_CODES:
        raise ValueError(f"unknown strategy {strategy!r} (known: {', '.join(STRATEGY_CODES)})")
    n_pos = draw_count(sampler.rng, p.n_pos)
    neg_range = {"xu_pos_neg1": p.n_neg1, "xu_pos_neg2": p.n_neg2, "xu_pos_neg3": p.n_neg3}[strategy]
    n_neg = draw_count(sampler.rng, neg_range)
    pos = xu_positives(maps, n_pos, p.d_margin, p.d_step, sampler)
    if strategy == "xu_pos_neg1":
        neg = xu_negatives_background(maps, n_neg, p.d_margin, p.d_step, p.d_max, sampler)
    elif strategy == "xu_pos_neg2":
        neg = xu_negatives_other_objects(maps, n_neg, p.d_margin, p.d_step, sampler)
    else:
        neg = xu_negatives_boundary(maps, n_neg, p.d_margin, p.neg3_band, sampler)
    return ClickSet(pos, neg, n_pos, n_neg)


def instance_sets(
    maps: InstanceMaps, annotation_id: int, params: ClicksParams, seed: int
) -> list[tuple[str, int, ClickSet]]:
    """All ``(strategy, set_index, ClickSet)`` of one instance, K per strategy of ``params``.

    The same sets as K :func:`simulate` calls sharing one sampler per strategy; the
    farthest-point covers of strategy 3 are computed together once their draws are made.
    """
    out = []
    for strategy in params.strategies:
        # each strategy's sets are finished before the next strategy's generator is made
        sampler = Sampler(reused_instance_rng(seed, STRATEGY_CODES[strategy], annotation_id))
        if strategy == "xu_pos_neg3":
            out.extend((strategy, k, cs) for k, cs in enumerate(_boundary_sets(maps, params, sampler)))
            continue
        for k in range(params.sets_per_strategy):
            out.append((strategy, k, simulate(maps, strategy, params, sampler)))
    return out


def _boundary_sets(maps: InstanceMaps, params: ClicksParams, sampler: Sampler) -> list[ClickSet]:
    """The K sets of ``xu_pos_neg3``, drawn exactly as :func:`simulate` draws them one by one."""
    p = params
    cand = boundary_candidates(maps, p.d_margin, p.neg3_band)
    drawn = []
    for _ in range(p.sets_per_strategy):
        n_pos = draw_count(sampler.rng, p.n_pos)
        n_neg = draw_count(sampler.rng, p.n_neg3)
        pos = xu_positives(maps, n_pos, p.d_margin, p.d_step, sampler)
        drawn.append((pos, n_pos, n_neg, sampler.cover_start(cand, n_neg)))
    negs = sampler.covers(cand, [(n_neg, start) for _, _, n_neg, start in drawn])
    return [ClickSet(pos, neg, n_pos, n_neg) for (pos, n_pos, n_neg, _), neg in zip(drawn, negs)]
