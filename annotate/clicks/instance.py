"""One object and the exact distance conditions the click samplers need (the speed core).

Coordinates: every click in this package is an ``[x, y]`` pair of integer pixel indices in
the original image, ``x`` the column and ``y`` the row.

Distances are Euclidean distances between pixel centres:

- ``dt_in``: for an object pixel, the distance to the nearest non-object pixel, where pixels
  outside the image count as non-object (so a click is also kept away from the image edge).
  "At least ``d`` from the boundary" means ``dt_in >= d``.
- ``dt_out``: for a non-object pixel, the distance to the nearest object pixel; 0 on the object.

Every condition is answered exactly (tests compare with scipy's exact distance transform)
but without full distance transforms, which would dominate the cost: thresholds are
erosions/dilations with digital disks on the object's bounding box, large outer distances
are k-d tree queries on the object's boundary pixels (see :class:`InstanceMaps`).

Candidate sets (:class:`Candidates`) are a predicate over a rectangle: samplers first draw
uniform pixels of the rectangle and keep those that satisfy it (rejection sampling, no
enumeration), and enumerate the set exactly only when that does not find enough points.
"""

from __future__ import annotations

from typing import Any, Callable

import cv2
import numpy as np
from scipy.spatial import cKDTree  # imported here, not lazily: forked workers inherit it

from portraitkit.annotate.clicks.disks import disk_n, last_step

Pred = Callable[[np.ndarray, np.ndarray], np.ndarray]


_SNAP_BELOW = np.float32(2000.0)  # float32 d**2 stays within 0.5 of its integer below this


def precise_edt(img: np.ndarray) -> np.ndarray:
    """cv2's exact L2 distance of each nonzero pixel to the nearest zero pixel, snapped to
    sqrt(integer). cv2 leaves the last bit of some distances to the input buffer's memory alignment,
    so the same mask gave 4.9999995 in one process and 5.0 in another: floors and argmax ties (the
    next click) then differed from run to run. Distances of 2000 px or more (and cv2's "no zero
    pixel" value) are left as cv2 gives them."""
    dt = cv2.distanceTransform(img, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    near = dt < _SNAP_BELOW
    dt[near] = np.sqrt(np.rint(np.square(dt[near], dtype=np.float64))).astype(np.float32)
    return dt


def edt_inside(mask: np.ndarray) -> np.ndarray:
    """Distance of each nonzero pixel to the nearest zero pixel, the outside of the array being zero."""
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    return precise_edt(padded)[1:-1, 1:-1]


def edt_outside(mask: np.ndarray) -> np.ndarray:
    """Distance of each zero pixel to the nearest nonzero pixel (huge when there is none)."""
    inv = (mask == 0).astype(np.uint8)
    return precise_edt(inv)


class Candidates:
    """The pixels ``(x, y)`` of the rectangle ``[x0, x1) x [y0, y1)`` where ``pred(x, y)`` holds.

    ``region_map()`` returns the predicate as a boolean array over the whole rectangle (used to
    enumerate the set exactly); :meth:`xy` enumerates and caches.
    """

    def __init__(self, x0: int, y0: int, x1: int, y1: int, pred: Pred, region_map: Callable[[], np.ndarray]):
        self.x0, self.y0 = int(x0), int(y0)
        self.x1, self.y1 = max(int(x1), int(x0)), max(int(y1), int(y0))
        self.pred = pred
        self._region_map = region_map
        self._xy: np.ndarray | None = None
        # mapped: the region map is cheap and shared by many click sets, so samplers test random
        # pixels against it (:meth:`flat`, one lookup) instead of calling ``pred``
        self.mapped = False
        self._flat: np.ndarray | None = None

    def flat(self) -> np.ndarray:
        """The region map as a row-major 1-D bool array over the rectangle (cached)."""
        if self._flat is None:
            m = np.ascontiguousarray(self._region_map(), dtype=bool)
            if m.shape != (self.y1 - self.y0, self.x1 - self.x0):
                raise AssertionError(f"region map {m.shape} does not match the rectangle")
            self._flat = m.reshape(-1)
        return self._flat

    @staticmethod
    def empty() -> "Candidates":
        return Candidates(0, 0, 0, 0, lambda x, y: np.zeros(np.shape(x), bool), lambda: np.zeros((0, 0), bool))

    @staticmethod
    def from_mask(mask: np.ndarray, x0: int = 0, y0: int = 0) -> "Candidates":
        """The nonzero pixels of ``mask``, placed at image offset (x0, y0)."""
        m = np.asarray(mask) != 0
        h, w = m.shape
        return Candidates(x0, y0, x0 + w, y0 + h, lambda x, y: m[y - y0, x - x0], lambda: m)

    @property
    def region_empty(self) -> bool:
        return self.x1 <= self.x0 or self.y1 <= self.y0

    def _nonzero(self) -> np.ndarray:
        """The candidates relative to the rectangle's corner, (N, 2) int32 ``[x, y]``, row-major (cached)."""
        if getattr(self, "_nz", None) is None:
            nz = None
            if not self.region_empty:
                m = np.ascontiguousarray(self._region_map(), dtype=bool).view(np.uint8)
                nz = cv2.findNonZero(m) if m.size else None  # row-major order, faster than np.nonzero
            self._nz = np.zeros((0, 2), np.int32) if nz is None else nz.reshape(-1, 2)
        return self._nz

    def xy(self) -> np.ndarray:
        """All candidates as an (N, 2) int64 array of image ``[x, y]``, in row-major order."""
        if self._xy is None:
            self._xy = self._nonzero().astype(np.int64) + np.array([self.x0, self.y0], np.int64)
        return self._xy

    def xy_int(self) -> tuple[np.ndarray, np.ndarray]:
        """The candidates' x and y relative to the rectangle's corner as contiguous int32 arrays
        (int64 for rectangles of 32768 pixels or more, so squared distances cannot overflow); cached."""
        if getattr(self, "_xyi", None) is None:
            nz = self._nonzero()
            dt = np.int32 if max(self.x1 - self.x0, self.y1 - self.y0) < 32768 else np.int64
            self._xyi = (np.ascontiguousarray(nz[:, 0], dt), np.ascontiguousarray(nz[:, 1], dt))
        return self._xyi

    def __len__(self) -> int:
        return int(self.xy().shape[0])


class ArrayLayer:
    """Other objects given as one H x W array (nonzero = some other object)."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self.array[y, x] != 0

    def window(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """A new bool array of the rectangle ``[x0, x1) x [y0, y1)``."""
        return np.asarray(self.array)[y0:y1, x0:x1] != 0

    def any(self) -> bool:
        return bool(np.any(self.array))

    def bounds(self) -> tuple[int, int, int, int]:
        """The smallest rectangle ``(x0, y0, x1, y1)`` holding every nonzero pixel."""
        x, y, w, h = cv2.boundingRect((np.asarray(self.array) != 0).astype(np.uint8))
        return x, y, x + w, y + h


class ImageObjects:
    """The annotated objects of one image as cropped masks ``(x0, y0, mask)`` (what the stage
    decodes), with the number of objects covering each pixel. Built once per image, it tells
    each instance where the *other* objects are (:meth:`others`) with one lookup per pixel.

    Masks are bool or uint8 0/1 (as :func:`~annotate.clicks.decode.decode_cropped` gives them);
    anything else is converted.
    """

    def __init__(self, height: int, width: int, pieces: list[tuple[int, int, np.ndarray]]) -> None:
        self.height, self.width = int(height), int(width)
        self.pieces = [(int(x0), int(y0), _as01(m)) for x0, y0, m in pieces]
        boxes = [(x0, y0, x0 + m.shape[1], y0 + m.shape[0]) for x0, y0, m in self.pieces if m.size]
        self.x0 = min((b[0] for b in boxes), default=0)
        self.y0 = min((b[1] for b in boxes), default=0)
        self.x1 = max((b[2] for b in boxes), default=0)
        self.y1 = max((b[3] for b in boxes), default=0)
        self._count_flat: np.ndarray | None = None
        self._nonempty: list[bool] | None = None

    def count_flat(self) -> np.ndarray:
        """Objects covering each pixel of the pieces' bounds, with a zero border, flattened
        (the layout :func:`_padded_lookup` reads); built on first use."""
        if self._count_flat is None:
            # one byte per pixel while no pixel can be covered 255 times
            dtype = np.uint8 if len(self.pieces) < 255 else np.uint32
            count = np.zeros((self.y1 - self.y0 + 2, self.x1 - self.x0 + 2), dtype)
            for px, py, m in self.pieces:
                if m.size:
                    r, c = py - self.y0 + 1, px - self.x0 + 1
                    dst = count[r : r + m.shape[0], c : c + m.shape[1]]
                    if dtype == np.uint8:
                        cv2.add(dst, m, dst=dst)  # in place on the view, several times numpy's speed
                    else:
                        np.add(dst, m, out=dst, casting="unsafe")
            self._count_flat = count.reshape(-1)
        return self._count_flat

    def count(self) -> np.ndarray:
        """Objects covering each pixel of ``[x0, x1) x [y0, y1)``."""
        return self.count_flat().reshape(self.y1 - self.y0 + 2, -1)[1:-1, 1:-1]

    def nonempty(self, i: int) -> bool:
        if self._nonempty is None:
            self._nonempty = [bool(m.size) and cv2.countNonZero(m) > 0 for _, _, m in self.pieces]
        return self._nonempty[i]

    def others(self, i: int) -> "OthersLayer":
        """The objects other than ``pieces[i]``."""
        return OthersLayer(self, i)


class OthersLayer:
    """The objects of an image other than one of them (see :class:`ImageObjects`)."""

    def __init__(self, objects: ImageObjects, i: int) -> None:
        self.objects, self.i = objects, int(i)
        self._own_flat: np.ndarray | None = None

    def _own(self) -> tuple[int, int, np.ndarray, np.ndarray]:
        x0, y0, m = self.objects.pieces[self.i]
        if self._own_flat is None:
            self._own_flat = _padded_flat(m)
        return x0, y0, m, self._own_flat

    def at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        o = self.objects
        covered = _padded_lookup(o.count_flat(), o.x0, o.y0, (o.y1 - o.y0, o.x1 - o.x0), x, y)
        ox, oy, own, own_flat = self._own()
        return covered > _padded_lookup(own_flat, ox, oy, own.shape, x, y)

    def window(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """A new bool array of the rectangle ``[x0, x1) x [y0, y1)``: True on other objects."""
        o = self.objects
        out = np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), np.int32)
        ox, oy, own, _ = self._own()
        for px, py, m, sign in ((o.x0, o.y0, o.count(), 1), (ox, oy, own, -1)):  # covered - own > 0
            ax0, ay0 = max(px, x0), max(py, y0)
            ax1, ay1 = min(px + m.shape[1], x1), min(py + m.shape[0], y1)
            if ax1 > ax0 and ay1 > ay0:
                dst = out[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0]
                dst += sign * m[ay0 - py : ay1 - py, ax0 - px : ax1 - px].astype(np.int32)
        return out > 0

    def any(self) -> bool:
        return any(self.objects.nonempty(j) for j in range(len(self.objects.pieces)) if j != self.i)

    def bounds(self) -> tuple[int, int, int, int]:
        """A rectangle ``(x0, y0, x1, y1)`` holding every other object (their crops' bounds)."""
        boxes = [
            (x0, y0, x0 + m.shape[1], y0 + m.shape[0])
            for j, (x0, y0, m) in enumerate(self.objects.pieces)
            if j != self.i and m.size
        ]
        if not boxes:
            return 0, 0, 0, 0
        return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


def _padded_flat(m: np.ndarray) -> np.ndarray:
    """``m`` with a one-pixel border of zeros, flattened (for :func:`_padded_lookup`)."""
    if m.dtype in (np.uint8, bool):
        padded = cv2.copyMakeBorder(m.view(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
        return padded.view(m.dtype).reshape(-1)
    return np.pad(m, 1).reshape(-1)


def _padded_lookup(flat: np.ndarray, x0: int, y0: int, shape: tuple[int, int], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The values at image pixels (x, y) of a map of ``shape`` placed at (x0, y0), given as
    :func:`_padded_flat`; pixels off the map read the zero border."""
    h, w = shape
    xi = np.subtract(x, x0 - 1)
    np.minimum(np.maximum(xi, 0, out=xi), w + 1, out=xi)
    yi = np.subtract(y, y0 - 1)
    np.minimum(np.maximum(yi, 0, out=yi), h + 1, out=yi)
    yi *= w + 2
    yi += xi
    return flat[yi]


Layer = ArrayLayer | OthersLayer


def _as01(m: np.ndarray) -> np.ndarray:
    """``m`` as uint8 0/1 (bool and uint8 arrays are taken as they are: decoded masks are 0/1)."""
    if m.dtype == bool:
        return m.view(np.uint8)
    return m if m.dtype == np.uint8 else (m != 0).view(np.uint8)


class InstanceMaps:
    """One object, the other objects of its image (optional), and exact distance tests around it.

    The object is kept as its bounding-box crop. Distance conditions are answered exactly
    without full distance transforms, which dominate the cost otherwise:

    - ``dt_in >= d`` is an erosion with the open disk of radius ``d``, ``dt_in > d`` with the
      closed one (pixels outside the image count as non-object: zero border);
    - ``dt_out < d`` / ``dt_out <= d`` are dilations with the open / closed disk, on the box
      grown by ``d``;
    - large outer distances (strategy 1's ``D``) are answered per sampled point by a k-d tree of
      the object's border pixels (the nearest object pixel to an outside pixel always has a
      non-object 4-neighbour: the tree holds exactly those pixels), and by
      an exact distance transform when a set has to be enumerated.

    Build with :meth:`build`; maps and candidate sets are cached per instance.
    """

    SMALL = 16.0  # rings up to this outer radius are enumerated by dilation

    def __init__(
        self,
        height: int,
        width: int,
        area: int,
        bbox: tuple[int, int, int, int] = (0, 0, 0, 0),
        obj: np.ndarray | None = None,
        reach: float = 0.0,
        others: Layer | None = None,
    ) -> None:
        self.height, self.width, self.area = int(height), int(width), int(area)
        self.bx0, self.by0, self.bx1, self.by1 = bbox  # object bounding box (image coords, end exclusive)
        self.obj = obj if obj is not None else np.zeros((0, 0), np.uint8)  # bbox crop, uint8 0/1
        self.obj_bool = self.obj.view(bool)
        self.reach = float(reach)
        r = int(np.ceil(reach)) + 1
        # crop rectangle: the box grown by reach + 1, where dt_out (lazily) is exact
        self.x0, self.y0 = max(0, self.bx0 - r), max(0, self.by0 - r)
        self.x1, self.y1 = min(self.width, self.bx1 + r), min(self.height, self.by1 + r)
        if self.area == 0:
            self.x0 = self.y0 = self.x1 = self.y1 = 0
        self.others = others
        self._has_others: bool | None = None
        self._cache: dict[Any, Any] = {}

    @staticmethod
    def build(
        mask: np.ndarray,
        reach: float,
        others: np.ndarray | Layer | None = None,
    ) -> "InstanceMaps":
        """Maps of the object ``mask`` (H x W, nonzero = object); ``reach`` sizes the crop of
        :attr:`dt_out` (exact up to ``reach`` outside the object).

        ``others``: H x W array, nonzero on the other objects of the image (strategy 2 and the
        multi-point "other" source), or a layer (:meth:`ImageObjects.others`).
        """
        if mask.ndim != 2:
            raise ValueError(f"mask must be 2-D (got shape {mask.shape})")
        height, width = mask.shape
        if isinstance(others, np.ndarray):
            if others.shape != mask.shape:
                raise ValueError(f"others has shape {others.shape}, mask {mask.shape}")
            others = ArrayLayer(others)
        return InstanceMaps.from_crop(height, width, 0, 0, mask, reach, others)

    @staticmethod
    def from_crop(
        height: int,
        width: int,
        x0: int,
        y0: int,
        crop: np.ndarray,
        reach: float,
        others: Layer | None = None,
    ) -> "InstanceMaps":
        """Like :meth:`build` for an object given as ``crop`` placed at (x0, y0) of an H x W image
        (the crop must hold the whole object)."""
        if crop.dtype == np.uint8:  # decoded masks: one SIMD pass to 0/1
            c8 = cv2.threshold(np.ascontiguousarray(crop), 0, 1, cv2.THRESH_BINARY)[1]
        else:
            c8 = np.ascontiguousarray(crop != 0).view(np.uint8)
        if c8.size == 0:
            return InstanceMaps(height, width, 0, reach=reach, others=others)
        bx, by, bw, bh = cv2.boundingRect(c8)
        if bw <= 0 or bh <= 0:
            return InstanceMaps(height, width, 0, reach=reach, others=others)
        obj = np.ascontiguousarray(c8[by : by + bh, bx : bx + bw])
        bx, by = bx + int(x0), by + int(y0)
        return InstanceMaps(
            height, width, int(cv2.countNonZero(obj)), (bx, by, bx + bw, by + bh), obj, reach, others
        )

    # -- morphology maps (cached) -------------------------------------------------------------
    def eroded(self, r: float, strict: bool) -> np.ndarray:
        """Bbox-sized bool map of ``dt_in >= r`` (``strict``: ``dt_in > r``)."""
        # dt_in >= r: every pixel closer than r is object, i.e. the open disk fits (erosion
        # with D_(ceil(r^2) - 1)); dt_in > r: the closed disk D_floor(r^2) fits
        return self._erosion(disk_n(r, strict)).view(bool)

    def _erosion(self, n: int) -> np.ndarray:
        """The object eroded by ``D_n`` (zero border: outside the image is not object), uint8 0/1."""
        if n <= 0:
            return self.obj  # every object pixel has dt_in >= 1
        key = ("ero", n)
        m = self._cache.get(key)
        if m is None:
            prev, step = last_step(n)
            m = cv2.erode(self._erosion(prev), step, borderType=cv2.BORDER_CONSTANT, borderValue=0)
            self._cache[key] = m
        return m

    def dilated(self, r: float, strict: bool) -> tuple[int, int, np.ndarray]:
        """``(x0, y0, map)``: bool map of ``dt_out < r`` (``strict``) or ``dt_out <= r``, i.e. on
        or near the object, over the box grown by ``ceil(r)`` (clipped to the image)."""
        key = ("dil", float(r), bool(strict))
        v = self._cache.get(key)
        if v is None:
            g = max(int(np.ceil(r)), 0)
            rx0, ry0 = max(0, self.bx0 - g), max(0, self.by0 - g)
            rx1, ry1 = min(self.width, self.bx1 + g), min(self.height, self.by1 + g)
            n = disk_n(r, strict)
            if n < 0:
                m = np.zeros((ry1 - ry0, rx1 - rx0), bool)  # nothing is nearer than 0
            elif (dil := self._dilation(n))[:2] == (rx0, ry0) and dil[2].shape == (ry1 - ry0, rx1 - rx0):
                m = dil[2].view(bool)  # away from the image edge: the dilation's own box
            else:
                # the unclipped dilation lies inside the box grown by isqrt(n) <= g: paste it
                dx0, dy0, d = dil
                m = np.zeros((ry1 - ry0, rx1 - rx0), np.uint8)
                ax0, ay0 = max(rx0, dx0), max(ry0, dy0)
                ax1, ay1 = min(rx1, dx0 + d.shape[1]), min(ry1, dy0 + d.shape[0])
                m[ay0 - ry0 : ay1 - ry0, ax0 - rx0 : ax1 - rx0] = d[ay0 - dy0 : ay1 - dy0, ax0 - dx0 : ax1 - dx0]
                m = m.view(bool)
            v = (rx0, ry0, m)
            self._cache[key] = v
        return v

    def _dilation(self, n: int) -> tuple[int, int, np.ndarray]:
        """``(x0, y0, map)``: the object dilated by ``D_n`` on the box grown by ``isqrt(n)``,
        not clipped to the image (a chain of dilations must not lose what leaves the image)."""
        if n <= 0:
            return self.bx0, self.by0, self.obj
        key = ("dilation", n)
        v = self._cache.get(key)
        if v is None:
            prev, step = last_step(n)
            px0, py0, base = self._dilation(prev)
            e = step.shape[0] // 2
            grown = cv2.copyMakeBorder(base, e, e, e, e, cv2.BORDER_CONSTANT, value=0)
            v = (px0 - e, py0 - e, cv2.dilate(grown, step, borderType=cv2.BORDER_CONSTANT, borderValue=0))
            self._cache[key] = v
        return v

    def _lookup(self, x0: int, y0: int, m: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``m`` (a bool map placed at (x0, y0)) at image pixels (x, y); False off the map."""
        key = ("padded", id(m))  # maps live as long as the instance: ids are not reused
        flat = self._cache.get(key)
        if flat is None:
            flat = self._cache[key] = _padded_flat(m)
        return _padded_lookup(flat, x0, y0, m.shape, x, y)

    def target(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Is image pixel (x, y) on the object?"""
        return self._lookup(self.bx0, self.by0, self.obj_bool, np.asarray(x), np.asarray(y))

    def near(self, x: np.ndarray, y: np.ndarray, dist: float, strict: bool = False) -> np.ndarray:
        """Are image pixels (x, y) on the object or within ``dist`` of it (``strict``: closer than)?"""
        x, y = np.asarray(x), np.asarray(y)
        if self.area == 0:
            return np.zeros(x.shape, bool)
        return self._lookup(*self.dilated(dist, strict), x, y)

    def _tree(self):
        t = self._cache.get("tree")
        if t is None:
            # The nearest object pixel of any outside point has a non-object 4-neighbour (the
            # array edge counts as non-object). Those pixels are exactly the border points
            # OpenCV's border following (Suzuki-Abe) traces, outer borders and holes alike; the
            # tests check the distances against an exact transform.
            contours, _ = cv2.findContours(self.obj, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
            pts = np.concatenate(contours).reshape(-1, 2).astype(np.float64)
            pts[:, 0] += self.bx0
            pts[:, 1] += self.by0
            t = cKDTree(pts, balanced_tree=False, compact_nodes=False)
            self._cache["tree"] = t
        return t

    def dist_out(self, x: np.ndarray, y: np.ndarray, upto: float = np.inf) -> np.ndarray:
        """Exact distance of image pixels (x, y) to the nearest object pixel; with ``upto``,
        exact up to that distance and ``inf`` beyond (a faster search)."""
        x, y = np.asarray(x), np.asarray(y)
        if self.area == 0:
            return np.full(x.shape, np.inf)
        q = np.empty(x.shape + (2,), np.float64)
        q[..., 0] = x
        q[..., 1] = y
        # the bound is a little generous so that a distance of exactly ``upto`` stays exact
        bound = upto * (1 + 1e-9) + 1e-9 if np.isfinite(upto) else np.inf
        d, _ = self._tree().query(q, k=1, distance_upper_bound=bound)
        return d

    # -- exact distance maps (lazy; for enumerations and tests) -------------------------------
    @property
    def dt_in(self) -> np.ndarray:
        """Bbox-sized float32 ``dt_in`` (0 off the object)."""
        if "dt_in" not in self._cache:
            self._cache["dt_in"] = edt_inside(self.obj) if self.area else np.zeros((0, 0), np.float32)
        return self._cache["dt_in"]

    @property
    def mask(self) -> np.ndarray:
        """The object on the crop rectangle ``[x0, x1) x [y0, y1)`` (uint8 0/1)."""
        if "mask" not in self._cache:
            m = np.zeros((self.y1 - self.y0, self.x1 - self.x0), np.uint8)
            if self.area:
                m[self.by0 - self.y0 : self.by1 - self.y0, self.bx0 - self.x0 : self.bx1 - self.x0] = self.obj
            self._cache["mask"] = m
        return self._cache["mask"]

    @property
    def dt_out(self) -> np.ndarray:
        """Crop-sized float32 ``dt_out`` (0 on the object), exact on the whole crop."""
        if "dt_out" not in self._cache:
            self._cache["dt_out"] = edt_outside(self.mask) if self.area else np.zeros((0, 0), np.float32)
        return self._cache["dt_out"]

    @property
    def max_depth(self) -> float:
        """Largest ``dt_in`` (0 for an empty object)."""
        if "max_depth" not in self._cache:
            self._cache["max_depth"] = float(self.dt_in.max()) if self.area else 0.0
        return self._cache["max_depth"]

    def has_others(self) -> bool:
        """Whether the image has any other object."""
        if self.others is None:
            return False
        if self._has_others is None:
            self._has_others = self.others.any()
        return self._has_others

    def memo(self, key: Any, make: Callable[[], Any]) -> Any:
        """``make()``, computed once per instance and key (for per-instance values of samplers)."""
        v = self._cache.get(key)
        if v is None:
            v = self._cache[key] = make()
        return v

    # -- candidate sets ----------------------------------------------------------------------
    def _cached(self, key: Any, make: Callable[[], Candidates]) -> Candidates:
        c = self._cache.get(key)
        if c is None:
            c = Candidates.empty() if self.area == 0 else make()
            self._cache[key] = c
        return c

    def _bbox_cands(self, m_fn: Callable[[], np.ndarray]) -> Candidates:
        bx0, by0 = self.bx0, self.by0
        c = Candidates(bx0, by0, self.bx1, self.by1, lambda x, y: m_fn()[y - by0, x - bx0], m_fn)
        c.mapped = True
        return c

    def inside(self, min_depth: float) -> Candidates:
        """Object pixels at distance >= ``min_depth`` from the boundary (all object pixels for <= 1)."""
        d = float(min_depth)
        return self._cached(("in", d), lambda: self._bbox_cands(lambda: self.eroded(d, True)))

    def inside_strict(self, depth: float) -> Candidates:
        """Object pixels deeper than ``depth`` (``dt_in > depth``)."""
        d = max(float(depth), 0.0)
        return self._cached(("in>", d), lambda: self._bbox_cands(lambda: self.eroded(d, False)))

    def any_inside_strict(self, depth: float) -> bool:
        """Is any object pixel deeper than ``depth``?"""
        key = ("any>", float(depth))
        if key not in self._cache:
            self._cache[key] = bool(self.eroded(max(float(depth), 0.0), False).any()) if self.area else False
        return self._cache[key]

    def ring(self, lo: float, hi: float) -> Candidates:
        """Non-object pixels with ``lo <= dt_out <= hi`` (``lo > 0``)."""
        lo = max(float(lo), 1e-6)
        hi = float(hi)

        def make() -> Candidates:
            g = int(np.ceil(hi))
            rx0, ry0 = max(0, self.bx0 - g), max(0, self.by0 - g)
            rx1, ry1 = min(self.width, self.bx1 + g), min(self.height, self.by1 + g)
            if hi < lo:
                return Candidates(rx0, ry0, rx0, ry0, lambda x, y: np.zeros(np.shape(x), bool), lambda: np.zeros((0, 0), bool))
            def pred(x: np.ndarray, y: np.ndarray) -> np.ndarray:
                ok = ~self.near(x, y, lo, strict=True)
                if hi <= self.SMALL:  # a small dilation answers it faster than k-d queries
                    return ok & self.near(x, y, hi)
                if ok.any():
                    ok[ok] = self.dist_out(x[ok], y[ok], upto=hi) <= hi
                return ok

            if hi <= self.SMALL:

                def region_map() -> np.ndarray:
                    ox, oy, outer = self.dilated(hi, False)
                    ix, iy, inner = self.dilated(lo, True)
                    m = outer.copy()
                    m[iy - oy : iy - oy + inner.shape[0], ix - ox : ix - ox + inner.shape[1]] &= ~inner
                    return m

            else:

                def region_map() -> np.ndarray:
                    # exact distance transform on the region (only when rejection sampling fell short)
                    arr = np.zeros((ry1 - ry0, rx1 - rx0), np.uint8)
                    arr[self.by0 - ry0 : self.by1 - ry0, self.bx0 - rx0 : self.bx1 - rx0] = self.obj
                    dt = edt_outside(arr)
                    return (dt >= lo) & (dt <= hi) & (arr == 0)

            # not mapped: samplers test each batch of draws against small dilations or the k-d
            # tree; the region map is built only to enumerate the ring (strategy 3, or when
            # rejection sampling falls short)
            return Candidates(rx0, ry0, rx1, ry1, pred, region_map)

        return self._cached(("ring", lo, hi), make)

    def outside_beyond(self, dist: float) -> Candidates:
        """Pixels of the whole image farther than ``dist`` from the object."""
        d = float(dist)

        def make() -> Candidates:
            def region_map() -> np.ndarray:
                m = np.ones((self.height, self.width), bool)
                ox, oy, near = self.dilated(d, False)
                m[oy : oy + near.shape[0], ox : ox + near.shape[1]] &= ~near
                return m

            def pred(x: np.ndarray, y: np.ndarray) -> np.ndarray:
                if d <= self.SMALL:  # a small dilation answers it faster than k-d queries
                    return ~self.near(x, y, d)
                ok = ~self.target(x, y)  # the tree's distances hold for pixels off the object
                if ok.any():
                    ok[ok] = self.dist_out(x[ok], y[ok], upto=d) > d
                return ok

            # not mapped: an image-sized map per instance costs more than the few draws from it
            return Candidates(0, 0, self.width, self.height, pred, region_map)

        return self._cached(("beyond", d), make)

    def _others_window(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """The other objects over their bounds, built once per instance (shared by every margin)."""
        key = ("others_window", x0, y0, x1, y1)
        win = self._cache.get(key)
        if win is None:
            win = self._cache[key] = self.others.window(x0, y0, x1, y1)
        return win

    def other_objects(self, margin: float) -> Candidates:
        """Pixels of other objects that are off this object and at least ``margin`` from it."""
        m = max(float(margin), 0.0)

        def make() -> Candidates:
            others = self.others
            if others is None:
                return Candidates.empty()

            def pred(x: np.ndarray, y: np.ndarray) -> np.ndarray:
                out = others.at(x, y)
                if out.any():
                    out &= ~self.near(x, y, m, strict=True) if m > 0 else ~self.target(x, y)
                return out

            rx0, ry0, rx1, ry1 = others.bounds()

            def region_map() -> np.ndarray:
                win = self._others_window(rx0, ry0, rx1, ry1).copy()  # over the others' bounds only
                if m > 0:
                    ox, oy, near = self.dilated(m, True)
                else:
                    ox, oy, near = self.bx0, self.by0, self.obj_bool
                # clear the part of the near map that meets the window
                ix0, iy0 = max(ox, rx0), max(oy, ry0)
                ix1, iy1 = min(ox + near.shape[1], rx1), min(oy + near.shape[0], ry1)
                if ix1 > ix0 and iy1 > iy0:
                    win[iy0 - ry0 : iy1 - ry0, ix0 - rx0 : ix1 - rx0] &= ~near[iy0 - oy : iy1 - oy, ix0 - ox : ix1 - ox]
                return win

            # not mapped: testing the draws costs less than building the map (used to enumerate)
            return Candidates(rx0, ry0, rx1, ry1, pred, region_map)

        return self._cached(("other", m), make)
