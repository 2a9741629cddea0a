"""The one validation of COCO geometry, run before pycocotools ever sees a record.

pycocotools trusts its input: a polygon coordinate of 1e8 makes ``frPyObjects`` allocate
gigabytes or crash, an image of 50000 x 40000 px allocates 2 GB per mask, and a compressed
RLE ``counts`` string that is truncated, too short or too long makes its C decoder read and
write past its buffers (endless loops in ``merge``, uninitialised mask pixels). Curate runs
every check here on every annotation and quarantines the image of a record that fails; the
later stages read only what curate kept, and ``segmentation_problem`` lets them check a
hand-edited split file with the same rules.

Bounds (generous for real data: COCO 2017 polygons stay within [0, side] and their perimeter
within 3.6 x (width + height)):
- image sides are ints (not bool) in [1, ``MAX_SIDE``], and width x height <= ``MAX_PIXELS``;
- image and annotation ids are ints in [0, 2**63);
- polygons are lists of flat coordinate lists (depth exactly 2) of >= 3 points, every
  coordinate finite and within one image size outside the frame, the perimeter (what
  pycocotools' rasteriser walks) at most ``MAX_PERIMETER_SIDES`` x (width + height);
- RLE ``counts`` decode to runs that sum to exactly height x width; a compressed string is
  ASCII in COCO's 6-bit alphabet, every value complete, at most ``MAX_RLE_CHARS_PER_PIXEL``
  characters per pixel (work per record bounded by the image size).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import numpy as np

MAX_SIDE = 1 << 15
MAX_PIXELS = 1 << 27  # 134 M px: one uint8 mask of 128 MiB at most
MAX_ID = (1 << 63) - 1  # ids are stored as int64
MAX_PERIMETER_SIDES = 64
MAX_FILE_NAME = 1024  # characters of a relative path
MAX_NAME_PART = 255  # bytes of one path component (the common file-system limit)
# COCO's string counts: each value is 5-bit groups in chars '0'..'o'; an RLE of a valid mask
# never needs more than 7 groups per value (32-bit runs) nor many chars per pixel.
MAX_RLE_GROUPS = 7
MAX_RLE_CHARS_PER_PIXEL = 8


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def id_out_of_range(value: int) -> bool:
    """True if an integer id cannot be stored as int64 (the manifest's and the tables' type)."""
    return value > MAX_ID or value < -MAX_ID - 1


def valid_side(value: Any) -> bool:
    return is_int(value) and 1 <= value <= MAX_SIDE


def image_problems(img: dict[str, Any]) -> list[str]:
    """Problems of one image record that quarantine it (not the whole file)."""
    iid = img["id"]
    problems = []
    if iid < 0:
        problems.append(f"image {iid}: field 'id' must be >= 0, got {iid}")
    for key in ("width", "height"):
        value = img.get(key)
        if not is_int(value) or value <= 0:
            problems.append(f"image {iid}: field '{key}' must be a positive integer, got {value!r}")
        elif value > MAX_SIDE:
            problems.append(f"image {iid}: field '{key}' {value} exceeds the limit of {MAX_SIDE} px")
    w, h = img.get("width"), img.get("height")
    if valid_side(w) and valid_side(h) and w * h > MAX_PIXELS:
        problems.append(f"image {iid}: size {w} x {h} exceeds the limit of {MAX_PIXELS} pixels")
    name = img.get("file_name")
    if not isinstance(name, str) or not name:
        problems.append(f"image {iid}: field 'file_name' must be a non-empty string, got {name!r}")
    elif len(name) > MAX_FILE_NAME:
        problems.append(f"image {iid}: field 'file_name' is {len(name)} characters long (limit {MAX_FILE_NAME})")
    elif any(ord(ch) < 32 for ch in name):
        problems.append(f"image {iid}: field 'file_name' {name!r} holds control characters")
    else:
        p = PurePosixPath(name.replace("\\", "/"))
        if p.is_absolute() or ".." in p.parts or (len(name) > 1 and name[1] == ":"):
            problems.append(f"image {iid}: field 'file_name' {name!r} escapes the images folder")
        elif any(len(part.encode("utf-8", "surrogatepass")) > MAX_NAME_PART for part in p.parts):
            problems.append(f"image {iid}: field 'file_name' has a path component over {MAX_NAME_PART} bytes")
    return problems


def polygons_problem(polys: list[np.ndarray], aid: int, height: int, width: int) -> str | None:
    """Why flat float64 coordinate arrays (one per polygon) cannot be rasterised, or None."""
    perimeter = 0.0
    for k, coords in enumerate(polys):
        field = f"annotation {aid}: field 'segmentation[{k}]'"
        if coords.size % 2:
            return f"{field}: odd number of coordinates ({coords.size})"
        if coords.size < 6:
            return f"{field}: fewer than 3 points ({coords.size // 2})"
        if not np.isfinite(coords).all():
            return f"{field}: coordinates must be finite"
        xs, ys = coords[0::2], coords[1::2]
        if xs.min() < -width or xs.max() > 2 * width or ys.min() < -height or ys.max() > 2 * height:
            return (
                f"{field}: coordinates span x {xs.min():g}..{xs.max():g}, y {ys.min():g}..{ys.max():g}: "
                f"more than one image size outside the {width} x {height} frame"
            )
        dx = np.abs(np.diff(xs, append=xs[:1]))
        dy = np.abs(np.diff(ys, append=ys[:1]))
        perimeter += float(np.maximum(dx, dy).sum())
    limit = MAX_PERIMETER_SIDES * (width + height)
    if perimeter > limit:
        return f"annotation {aid}: field 'segmentation': polygon perimeter {perimeter:.0f} px exceeds {limit} px"
    return None


def decode_rle_string(counts: str, height: int, width: int) -> np.ndarray | str:
    """Run lengths of a COCO compressed RLE string, or why it is not a valid RLE of this size.

    Mirrors pycocotools' ``rleFrString`` (6-bit chars from '0', 5 value bits and a
    continuation bit, sign-extended; runs from the fourth on are deltas to the run two
    before) but checks what the C code assumes. Vectorised: work is linear in the string,
    whose length is bounded by the pixel count.
    """
    n_pixels = height * width
    if not counts:
        return "empty counts string"
    if len(counts) > MAX_RLE_CHARS_PER_PIXEL * n_pixels + 8:
        return f"counts string of {len(counts)} characters is too long for {height} x {width} px"
    try:
        raw = counts.encode("ascii")
    except UnicodeEncodeError:
        return "counts string holds non-ASCII characters"
    c = np.frombuffer(raw, dtype=np.uint8).astype(np.int64) - 48
    if c.min() < 0 or c.max() > 63:
        bad = raw[int(np.flatnonzero((c < 0) | (c > 63))[0])]
        return f"counts string holds {chr(bad)!r}, outside COCO's RLE alphabet '0'..'o'"
    more = (c & 0x20) != 0
    if more[-1]:
        return "counts string ends inside a value (truncated)"
    ends = np.flatnonzero(~more)
    starts = np.concatenate(([0], ends[:-1] + 1))
    groups = ends - starts + 1
    if groups.max() > MAX_RLE_GROUPS:
        return f"counts string holds a value of {int(groups.max())} characters (at most {MAX_RLE_GROUPS})"
    k = np.arange(c.size) - np.repeat(starts, groups)
    values = np.add.reduceat((c & 0x1F) << (5 * k), starts)
    negative = (c[ends] & 0x10) != 0
    values = np.where(negative, values - (np.int64(1) << (5 * groups)), values)
    runs = values.copy()
    # runs[m] = values[m] + runs[m - 2] for m > 2: running sums over each parity from index 1 and 2
    if runs.size > 3:
        runs[1::2] = np.cumsum(values[1::2])
        runs[2::2] = np.cumsum(values[2::2])
    if runs.min() < 0:
        return f"counts string decodes to a negative run ({int(runs.min())})"
    total = int(runs.sum())
    if total != n_pixels:
        return f"counts string decodes to runs summing to {total}, not height*width={n_pixels}"
    return runs


def rle_problem(rle: dict[str, Any], aid: int, height: int, width: int) -> str | None:
    """Why an RLE segmentation cannot be rasterised for this image, or None if it can."""
    size, counts = rle.get("size"), rle.get("counts")
    if not (isinstance(size, list) and len(size) == 2 and all(map(is_int, size))):
        return f"annotation {aid}: field 'segmentation.size': expected [height, width]"
    if size != [height, width]:
        return (
            f"annotation {aid}: field 'segmentation.size': RLE size {size} disagrees with "
            f"image size [{height}, {width}]"
        )
    if isinstance(counts, list):
        if not all(is_int(c) and c >= 0 for c in counts):
            return f"annotation {aid}: field 'segmentation.counts': expected non-negative integers"
        if sum(counts) != height * width:
            return (
                f"annotation {aid}: field 'segmentation.counts': runs sum to {sum(counts)}, "
                f"not height*width={height * width}"
            )
        return None
    if isinstance(counts, str):
        decoded = decode_rle_string(counts, height, width)
        if isinstance(decoded, str):
            return f"annotation {aid}: field 'segmentation.counts': {decoded}"
        return None
    return f"annotation {aid}: field 'segmentation.counts': expected a list or a string"


def segmentation_problem(seg: Any, aid: Any, height: int, width: int) -> str | None:
    """The same checks on a segmentation as plain Python objects (e.g. read from a split file)."""
    if isinstance(seg, list):
        if not seg:
            return f"annotation {aid}: field 'segmentation': empty polygon list"
        polys = []
        for k, poly in enumerate(seg):
            if not isinstance(poly, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in poly
            ):
                return f"annotation {aid}: field 'segmentation[{k}]': expected a flat list of numbers"
            polys.append(np.asarray(poly, dtype=np.float64))
        return polygons_problem(polys, aid, height, width)
    if isinstance(seg, dict):
        return rle_problem(seg, aid, height, width)
    return f"annotation {aid}: field 'segmentation': expected polygons (list) or RLE (object)"
