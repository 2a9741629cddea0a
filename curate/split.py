"""Deterministic train/val/test assignment by a stable hash of (seed, image id).

Each image's split depends on nothing but the seed and its own id, so adding or removing
images never moves another image between splits.
"""

from __future__ import annotations

import hashlib

SPLITS = ("train", "val", "test")


def split_unit(seed: int, image_id: int) -> float:
    """A uniform number in [0, 1) fixed by (seed, image_id)."""
    digest = hashlib.sha256(f"portraitkit-split:{seed}:{image_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_split(seed: int, image_id: int, fractions: dict[str, float]) -> str:
    u = split_unit(seed, image_id)
    edge = 0.0
    for name in SPLITS:
        edge += fractions[name]
        if u < edge:
            return name
    return SPLITS[-1]  # only reachable through float rounding at u ~ 1
