"""Simulated clicks for interactive segmentation ("tap the person, get the mask").

A seeded, tested library of the known click-simulation strategies, and the ``clicks`` stage.
Every click is an ``[x, y]`` pair of integer pixel coordinates of the original image
(x = column, y = row).

- :mod:`.positive`, :mod:`.negative`: Xu et al. 2016 positives and the three negative strategies.
- :mod:`.multipoint`: RITM-style multi-point sampler.
- :mod:`.iterative`: the error-driven next click.
- :mod:`.encoding`: distance-map and disk encodings.
- :mod:`.noc`: number-of-clicks evaluation; :mod:`.grabcut_baseline`: a training-free predictor.
- :mod:`.sets`: strategy names and seeding; :mod:`.stage`: the pipeline stage.
"""

from portraitkit.annotate.clicks.encoding import disk_maps, distance_maps, encode_clicks, stack_with_image
from portraitkit.annotate.clicks.grabcut_baseline import GrabCutPredictor
from portraitkit.annotate.clicks.instance import InstanceMaps
from portraitkit.annotate.clicks.iterative import Click, iou, next_click
from portraitkit.annotate.clicks.multipoint import multipoint_clicks
from portraitkit.annotate.clicks.negative import xu_negatives_background, xu_negatives_boundary, xu_negatives_other_objects
from portraitkit.annotate.clicks.noc import NocResult, NocSummary, evaluate, evaluate_instance, summarize
from portraitkit.annotate.clicks.positive import xu_positives
from portraitkit.annotate.clicks.sampling import instance_rng
from portraitkit.annotate.clicks.sets import STRATEGY_CODES, ClickSet, build_maps, instance_sets, simulate

__all__ = [
    "Click", "ClickSet", "GrabCutPredictor", "InstanceMaps", "NocResult", "NocSummary", "STRATEGY_CODES",
    "build_maps", "disk_maps", "distance_maps", "encode_clicks", "evaluate", "evaluate_instance",
    "instance_rng", "instance_sets", "iou", "multipoint_clicks", "next_click", "simulate",
    "stack_with_image", "summarize", "xu_negatives_background", "xu_negatives_boundary",
    "xu_negatives_other_objects", "xu_positives",
]
