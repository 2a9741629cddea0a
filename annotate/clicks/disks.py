"""Digital disks, and exact morphology with them in fewer operations.

The disk ``D_n`` is the set of pixel offsets ``o`` with ``|o|^2 <= n`` (n an integer): "within
distance r" is ``D_floor(r^2)``, "closer than r" is ``D_(ceil(r^2) - 1)``. OpenCV's dilation and
erosion with a non-rectangular kernel cost about one pass per kernel pixel, so a large disk is
expensive. Many disks are the Minkowski sum of a smaller disk and a small kernel (``D_64 =
D_25 + D_9``: 29 + 81 kernel pixels instead of 197), and dilating by a sum is dilating by one
part and then the other (eroding likewise). :func:`last_step` finds, once per disk, the cheapest
exact chain; every decomposition is checked pixel for pixel before it is used.
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

# A kernel pass costs about one OpenCV call's overhead plus one operation per kernel pixel
# (per row plus per column for a full rectangle, which OpenCV applies separably); the
# overhead, in kernel pixels, as measured on 300 x 300 crops.
_CALL_COST = 20
# Chains are searched up to this n (radius 16); larger disks are used directly.
_MAX_CHAIN_N = 256


def disk_n(r: float, strict: bool) -> int:
    """The n of the disk "within ``r``" (``strict``: "closer than ``r``"); -1 for the empty set."""
    r2 = float(r) * float(r) if r > 0 else 0.0
    n = math.ceil(r2) - 1 if strict else math.floor(r2)
    return canonical(n) if (r > 0 or not strict) else -1


@lru_cache(maxsize=None)
def canonical(n: int) -> int:
    """The largest sum of two squares ``<= n`` (the same disk), -1 for n < 0."""
    while n > 0 and not any(math.isqrt(n - a * a) ** 2 == n - a * a for a in range(math.isqrt(n) + 1)):
        n -= 1
    return max(n, -1)


@lru_cache(maxsize=None)
def disk(n: int) -> np.ndarray:
    """``D_n`` as a uint8 0/1 kernel of side ``2 * isqrt(n) + 1`` (n >= 0)."""
    r = math.isqrt(n)
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    return (x * x + y * y <= n).astype(np.uint8)


def _minkowski(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a + b`` of two centred odd-sided kernels, on a grid of the summed radii."""
    rb = b.shape[0] // 2
    padded = cv2.copyMakeBorder(a, rb, rb, rb, rb, cv2.BORDER_CONSTANT, value=0)
    return cv2.dilate(padded, b, borderType=cv2.BORDER_CONSTANT, borderValue=0)


def _trim(k: np.ndarray) -> np.ndarray:
    """The kernel cut to the smallest centred square holding its pixels."""
    r = k.shape[0] // 2
    ys, xs = np.nonzero(k)
    e = int(max(np.abs(ys - r).max(), np.abs(xs - r).max()))
    return np.ascontiguousarray(k[r - e : r + e + 1, r - e : r + e + 1])


def _pass_cost(k: np.ndarray) -> int:
    return _CALL_COST + (k.shape[0] + k.shape[1] if k.all() else int(k.sum()))


def _remainder(n: int, m: int) -> np.ndarray | None:
    """The kernel ``X`` with ``D_m + X = D_n`` exactly, or None when there is none."""
    big, small = disk(n), disk(m)
    rs = small.shape[0] // 2
    # the largest X with D_m + X inside D_n is the erosion of D_n by D_m
    x = cv2.erode(big, small, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    if not x.any():
        return None
    x = _trim(x)
    total = _minkowski(small, x)
    if total.shape != big.shape or not np.array_equal(total, big):
        return None
    assert x.shape[0] // 2 + rs == big.shape[0] // 2
    return x


@lru_cache(maxsize=None)
def _plan(n: int) -> tuple[int, int, np.ndarray]:
    """``(cost, m, X)``: the cheapest chain makes ``D_n`` as ``D_m + X`` (m = 0: ``X = D_n`` itself)."""
    best = (_pass_cost(disk(n)), 0, disk(n))
    if n > _MAX_CHAIN_N:
        return best
    for m in range(1, n):
        if canonical(m) != m:
            continue
        x = _remainder(n, m)
        if x is None:
            continue
        cost = _plan(m)[0] + _pass_cost(x)
        if cost < best[0]:
            best = (cost, m, x)
    return best


def last_step(n: int) -> tuple[int, np.ndarray]:
    """``(m, X)`` with ``D_n = D_m + X`` on the cheapest chain (m = 0: apply ``X = D_n`` directly).

    ``n`` must be canonical (:func:`canonical`) and > 0.
    """
    if n <= 0 or canonical(n) != n:
        raise ValueError(f"n must be a positive sum of two squares (got {n})")
    _, m, x = _plan(n)
    return m, x
