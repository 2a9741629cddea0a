"""Load and validate a COCO instances file.

Two kinds of problems, treated differently:
- problems that make the whole file unusable (not JSON, missing top-level keys, duplicate
  ids, an annotation pointing at an image that does not exist) raise ``UserError`` naming
  the file, the record and the field;
- problems confined to one image (a bad polygon, an RLE of the wrong size, an unknown
  category, a file_name escaping the images folder) quarantine that image: it stays in the
  manifest with reason ``invalid`` and the problems listed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from portraitkit.errors import UserError
from portraitkit.io import read_json

REQUIRED_TOP_LEVEL = ("images", "annotations", "categories")


@dataclass
class CocoIndex:
    """A validated COCO file, indexed by image."""

    path: Path
    raw: dict[str, Any]
    images: list[dict[str, Any]]
    categories: dict[int, dict[str, Any]]
    anns_by_image: dict[int, list[dict[str, Any]]]
    problems: dict[int, list[str]] = field(default_factory=dict)

    def category_name(self, category_id: int) -> str:
        cat = self.categories.get(category_id)
        return str(cat.get("name", category_id)) if cat else str(category_id)


_NUMBER_TYPES = {int, float}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _require_list(raw: dict[str, Any], key: str, path: Path) -> list[Any]:
    if key not in raw:
        raise UserError(f"{path}: missing top-level key '{key}'")
    value = raw[key]
    if not isinstance(value, list):
        raise UserError(f"{path}: '{key}': expected a list, got {type(value).__name__}")
    return value


def _check_id(record: Any, kind: str, index: int, path: Path) -> int:
    if type(record) is dict and type(record.get("id")) is int:
        return record["id"]
    if not isinstance(record, dict):
        raise UserError(f"{path}: {kind}[{index}]: expected an object, got {type(record).__name__}")
    if "id" not in record:
        raise UserError(f"{path}: {kind}[{index}]: missing field 'id'")
    if not _is_int(record["id"]):
        raise UserError(f"{path}: {kind}[{index}]: field 'id' must be an integer, got {record['id']!r}")
    return record["id"]


def image_problems(img: dict[str, Any]) -> list[str]:
    """Problems of one image record that quarantine it (not the whole file)."""
    problems = []
    for key in ("width", "height"):
        value = img.get(key)
        if not _is_int(value) or value <= 0:
            problems.append(f"image {img['id']}: field '{key}' must be a positive integer, got {value!r}")
    name = img.get("file_name")
    if not isinstance(name, str) or not name:
        problems.append(f"image {img['id']}: field 'file_name' must be a non-empty string, got {name!r}")
    else:
        p = PurePosixPath(name.replace("\\", "/"))
        if p.is_absolute() or ".." in p.parts or (len(name) > 1 and name[1] == ":"):
            problems.append(f"image {img['id']}: field 'file_name' {name!r} escapes the images folder")
    return problems


def segmentation_problem(ann: dict[str, Any], height: int, width: int) -> str | None:
    """Why an annotation's segmentation cannot be rasterised, or None if it can."""
    seg = ann.get("segmentation")
    aid = ann["id"]
    if isinstance(seg, list):
        if not seg:
            return f"annotation {aid}: field 'segmentation': empty polygon list"
        for k, poly in enumerate(seg):
            if not isinstance(poly, list):
                return f"annotation {aid}: field 'segmentation[{k}]': expected a list of coordinates"
            if len(poly) % 2:
                return f"annotation {aid}: field 'segmentation[{k}]': odd number of coordinates ({len(poly)})"
            if len(poly) < 6:
                return f"annotation {aid}: field 'segmentation[{k}]': fewer than 3 points ({len(poly) // 2})"
            if not set(map(type, poly)) <= _NUMBER_TYPES:
                return f"annotation {aid}: field 'segmentation[{k}]': coordinates must be numbers"
        return None
    if isinstance(seg, dict):
        size, counts = seg.get("size"), seg.get("counts")
        if not (isinstance(size, list) and len(size) == 2 and all(map(_is_int, size))):
            return f"annotation {aid}: field 'segmentation.size': expected [height, width]"
        if size != [height, width]:
            return (
                f"annotation {aid}: field 'segmentation.size': RLE size {size} disagrees with "
                f"image size [{height}, {width}]"
            )
        if isinstance(counts, list):
            if not all(_is_int(c) and c >= 0 for c in counts):
                return f"annotation {aid}: field 'segmentation.counts': expected non-negative integers"
            if sum(counts) != height * width:
                return (
                    f"annotation {aid}: field 'segmentation.counts': runs sum to {sum(counts)}, "
                    f"not height*width={height * width}"
                )
            return None
        if isinstance(counts, str):
            return None
        return f"annotation {aid}: field 'segmentation.counts': expected a list or a string"
    return f"annotation {aid}: field 'segmentation': expected polygons (list) or RLE (object), got {type(seg).__name__}"


def _looks_valid(ann: dict[str, Any], categories: dict[int, Any]) -> bool:
    """Fast path for the common case: polygons of numbers on a known category."""
    seg = ann.get("segmentation")
    if type(seg) is not list or not seg or ann.get("category_id") not in categories:
        return False
    if ann.get("iscrowd", 0) not in (0, 1) or type(ann.get("category_id")) is not int:
        return False
    for poly in seg:
        if type(poly) is not list or len(poly) < 6 or len(poly) % 2 or not set(map(type, poly)) <= _NUMBER_TYPES:
            return False
    return True


def annotation_problems(ann: dict[str, Any], img: dict[str, Any], categories: dict[int, Any]) -> list[str]:
    if _looks_valid(ann, categories):
        return []
    aid = ann["id"]
    problems = []
    cid = ann.get("category_id")
    if not _is_int(cid):
        problems.append(f"annotation {aid}: field 'category_id' must be an integer, got {cid!r}")
    elif cid not in categories:
        problems.append(f"annotation {aid}: field 'category_id': unknown category {cid}")
    crowd = ann.get("iscrowd", 0)
    if crowd not in (0, 1) or isinstance(crowd, bool):
        problems.append(f"annotation {aid}: field 'iscrowd' must be 0 or 1, got {crowd!r}")
    if "segmentation" not in ann:
        problems.append(f"annotation {aid}: missing field 'segmentation'")
    elif _is_int(img.get("width")) and _is_int(img.get("height")):
        problem = segmentation_problem(ann, img["height"], img["width"])
        if problem:
            problems.append(problem)
    return problems


def load_coco(path: str | Path) -> CocoIndex:
    """Read and validate a COCO instances file (see the module docstring for the policy)."""
    path = Path(path)
    raw = read_json(path)
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a JSON object at the top level, got {type(raw).__name__}")
    images = _require_list(raw, "images", path)
    annotations = _require_list(raw, "annotations", path)
    cats = _require_list(raw, "categories", path)

    categories: dict[int, dict[str, Any]] = {}
    for i, cat in enumerate(cats):
        cid = _check_id(cat, "categories", i, path)
        if cid in categories:
            raise UserError(f"{path}: categories[{i}]: field 'id': duplicate category id {cid}")
        categories[cid] = cat

    image_by_id: dict[int, dict[str, Any]] = {}
    for i, img in enumerate(images):
        iid = _check_id(img, "images", i, path)
        if iid in image_by_id:
            raise UserError(f"{path}: images[{i}]: field 'id': duplicate image id {iid}")
        image_by_id[iid] = img

    problems: dict[int, list[str]] = defaultdict(list)
    for iid, img in image_by_id.items():
        found = image_problems(img)
        if found:
            problems[iid].extend(found)

    anns_by_image: dict[int, list[dict[str, Any]]] = defaultdict(list)
    seen_ann_ids: set[int] = set()
    for i, ann in enumerate(annotations):
        aid = _check_id(ann, "annotations", i, path)
        if aid in seen_ann_ids:
            raise UserError(f"{path}: annotations[{i}]: field 'id': duplicate annotation id {aid}")
        seen_ann_ids.add(aid)
        iid = ann.get("image_id")
        if type(iid) is not int:
            raise UserError(f"{path}: annotations[{i}] (id {aid}): field 'image_id' must be an integer, got {iid!r}")
        img = image_by_id.get(iid)
        if img is None:
            raise UserError(f"{path}: annotations[{i}] (id {aid}): field 'image_id': unknown image {iid}")
        anns_by_image[iid].append(ann)
        found = annotation_problems(ann, img, categories)
        if found:
            problems[iid].extend(found)

    return CocoIndex(
        path=path,
        raw=raw,
        images=images,
        categories=categories,
        anns_by_image=dict(anns_by_image),
        problems=dict(problems),
    )


def load_num_keypoints(path: str | Path, person_category_id: int) -> dict[int, int]:
    """Map annotation id -> num_keypoints from a COCO person_keypoints file."""
    path = Path(path)
    raw = read_json(path)
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a JSON object at the top level")
    annotations = _require_list(raw, "annotations", path)
    out: dict[int, int] = {}
    for i, ann in enumerate(annotations):
        aid = _check_id(ann, "annotations", i, path)
        if ann.get("category_id", person_category_id) != person_category_id:
            continue
        n = ann.get("num_keypoints")
        if n is None and isinstance(ann.get("keypoints"), list):
            n = sum(1 for v in ann["keypoints"][2::3] if v)
        if not _is_int(n) or n < 0:
            raise UserError(f"{path}: annotations[{i}] (id {aid}): field 'num_keypoints' must be a non-negative integer, got {n!r}")
        if aid in out:
            raise UserError(f"{path}: annotations[{i}]: field 'id': duplicate annotation id {aid}")
        out[aid] = n
    return out
