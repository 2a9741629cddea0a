"""Click channels of an interactive model's input: the clicks package's encodings (distance maps or
disks, ``click_encoding`` of the spec) drawn at the photo's resolution, then fitted into the model
input the same way as the photo, scaled to [0, 1].

Must match how the train stage encodes clicks; until its encoder is shared, this is the one place to align.
"""

from __future__ import annotations

import numpy as np

from portraitkit.annotate.clicks.encoding import encode_clicks


def click_planes(spec, placement, positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """2 x h x w float32 (positives, negatives) at the model's input size."""
    enc = dict(spec.click_encoding or {})
    kind = enc.get("kind", "distance")
    maps = encode_clicks(
        placement.height, placement.width, positives, negatives, kind=kind,
        radius=int(enc.get("radius", 5)), truncate=int(enc.get("truncate", 255)),
    )
    planes = [np.asarray(placement.to_input(np.ascontiguousarray(maps[:, :, c])), np.float32) for c in range(2)]
    return np.stack(planes) / 255.0
