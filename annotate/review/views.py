"""The saved views of a review dataset: where annotators start in the App."""

from __future__ import annotations

from typing import Any, Callable

from portraitkit.curate.outputs import SPLITS

NEEDS_FIELD = {"worst-predictions": "prediction_iou"}  # views that exist only once their field does


def view_specs(F: Any) -> dict[str, tuple[str, Callable[[Any], Any]]]:
    """name -> (description, function dataset -> view). ``F`` is ``fiftyone.ViewField``."""
    specs: dict[str, tuple[str, Callable[[Any], Any]]] = {
        "coarse-first": (
            "All samples, the image with the coarsest person mask first",
            lambda ds: ds.sort_by(F("max_coarseness"), reverse=True),
        ),
        "flagged": (
            "Samples with at least one person flagged as coarse, coarsest first",
            lambda ds: ds.match_tags("flagged").sort_by(F("max_coarseness"), reverse=True),
        ),
        "body-parts": (
            "Samples whose persons are only body parts (no keypoints)",
            lambda ds: ds.match(F("body_part_flag") == True),  # noqa: E712 - a FiftyOne expression
        ),
        "held-objects": (
            "Samples where a person holds or touches an object",
            lambda ds: ds.match(F("held_object_flag") == True),  # noqa: E712
        ),
        "worst-predictions": (
            "Samples scored by `portraitkit evaluate`, the lowest prediction IoU first",
            lambda ds: ds.exists("prediction_iou").sort_by(F("prediction_iou")),
        ),
        "rejected": ("Samples tagged reject", lambda ds: ds.match_tags("reject")),
        "accepted": ("Samples tagged accept", lambda ds: ds.match_tags("accept")),
    }
    for split in SPLITS:
        specs[f"split-{split}"] = (
            f"The {split} split",
            lambda ds, split=split: ds.match(F("split") == split),
        )
    return specs


def save_views(dataset: Any) -> list[str]:
    """(Re)save every view on ``dataset``; returns their names, sorted."""
    from fiftyone import ViewField as F

    names = []
    schema = dataset.get_field_schema()
    for name, (description, make) in view_specs(F).items():
        if name in NEEDS_FIELD and NEEDS_FIELD[name] not in schema:
            continue  # e.g. no evaluate output attached yet
        dataset.save_view(name, make(dataset), description=description, overwrite=True)
        names.append(name)
    return sorted(names)
