"""The disk decompositions behind the click maps' morphology are exact."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from portraitkit.annotate.clicks.disks import canonical, disk, disk_n, last_step


def compose(n: int) -> np.ndarray:
    """Dilate a single pixel along the chain of ``last_step``: the kernel the chain applies."""
    steps = []
    while n:
        n, x = last_step(n)[0], last_step(n)[1]
        steps.append(x)
    side = sum(s.shape[0] // 2 for s in steps)
    img = np.zeros((2 * side + 1, 2 * side + 1), np.uint8)
    img[side, side] = 1
    for x in reversed(steps):
        img = cv2.dilate(img, x, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return img


@pytest.mark.parametrize("n", [m for m in range(1, 257) if canonical(m) == m])
def test_every_chain_builds_exactly_its_disk(n):
    got = compose(n)
    want = disk(n)
    assert got.shape == want.shape and np.array_equal(got, want)


def test_disk_numbers_match_distance_thresholds():
    for r in (0.5, 1, 1.5, 2.5, 3, 5, 5.5, 8, 12.3):
        y, x = np.mgrid[-20:21, -20:21]
        d = np.sqrt(x * x + y * y)
        for strict in (False, True):
            n = disk_n(r, strict)
            want = (d < r) if strict else (d <= r)
            k = disk(n)
            e = k.shape[0] // 2
            got = np.zeros_like(want)
            got[20 - e : 21 + e, 20 - e : 21 + e] = k.astype(bool)
            assert np.array_equal(got, want), (r, strict)
    assert disk_n(0, True) == -1 and disk_n(0, False) == 0
    assert canonical(24) == 20 and canonical(3) == 2 and canonical(-3) == -1
    assert all(canonical(a * a + b * b) == a * a + b * b for a in range(9) for b in range(9))
    assert math.isqrt(64) == disk(64).shape[0] // 2


def test_bad_disk_number_is_refused():
    with pytest.raises(ValueError):
        last_step(3)  # not a sum of two squares
