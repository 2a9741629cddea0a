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
from typing import Any, Iterator

import numpy as np
import simdjson

from portraitkit.curate.validate import (
    id_out_of_range,
    image_problems,
    is_int,
    polygons_problem,
    rle_problem,
    valid_side,
)
from portraitkit.errors import UserError

REQUIRED_TOP_LEVEL = ("images", "annotations", "categories")


@dataclass
class CocoIndex:
    """A validated COCO file: every image, and the person annotations in compact form.

    COCO train 2017 holds ~48 M polygon coordinates; as Python floats they would take
    gigabytes. The file is therefore parsed by simdjson and read lazily: person polygons
    are kept as float64 arrays (all that the rules rasterise), other annotations are only
    validated and counted, and full records are read again for the few images that need
    them (``load_annotations``).
    """

    path: Path
    top: dict[str, Any]
    images: list[dict[str, Any]]
    categories: dict[int, dict[str, Any]]
    persons_by_image: dict[int, list[dict[str, Any]]]
    n_annotations: dict[int, int]
    problems: dict[int, list[str]] = field(default_factory=dict)
    _doc: Any = field(default=None, repr=False)

    def annotations_of(self, image_ids: set[int]) -> dict[int, list[dict[str, Any]]]:
        """Full annotation records (every category) of the given images, sorted by id."""
        if self._doc is None:
            raise RuntimeError("annotations_of() after release()")
        out: dict[int, list[dict[str, Any]]] = defaultdict(list)
        if image_ids:
            for ann in self._doc["annotations"]:
                if ann["image_id"] in image_ids:
                    out[ann["image_id"]].append(ann.as_dict())
        return {iid: sorted(anns, key=lambda a: a["id"]) for iid, anns in out.items()}

    def release(self) -> None:
        """Drop the parsed document (most of the memory) once full records are no longer needed."""
        self._doc = None


def _check_id(record: Any, kind: str, index: int, path: Path) -> int:
    if not isinstance(record, dict):
        raise UserError(f"{path}: {kind}[{index}]: expected an object, got {type(record).__name__}")
    if "id" not in record:
        raise UserError(f"{path}: {kind}[{index}]: missing field 'id'")
    value = record["id"]
    if not is_int(value):
        raise UserError(f"{path}: {kind}[{index}]: field 'id' must be an integer, got {value!r}")
    if id_out_of_range(value):
        raise UserError(f"{path}: {kind}[{index}]: field 'id' {value} is outside the 64-bit integer range")
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, (list, simdjson.Array)):
        return "list"
    if isinstance(value, (dict, simdjson.Object)):
        return "object"
    return type(value).__name__


def _to_python(value: Any) -> Any:
    if isinstance(value, simdjson.Object):
        return value.as_dict()
    if isinstance(value, simdjson.Array):
        return value.as_list()
    return value


def _parse(path: Path) -> Any:
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    try:
        # load() reads straight into simdjson's buffer: no second copy of a 450 MB file.
        return simdjson.Parser().load(str(path))
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (ValueError, RuntimeError) as exc:
        raise UserError(f"{path}: malformed JSON ({exc})") from None


def _top_level(doc: Any, path: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(doc, simdjson.Object):
        raise UserError(f"{path}: expected a JSON object at the top level, got {_json_type(doc)}")
    out = {}
    for key in keys:
        if key not in doc:
            raise UserError(f"{path}: missing top-level key '{key}'")
        value = doc[key]
        if not isinstance(value, simdjson.Array):
            raise UserError(f"{path}: '{key}': expected a list, got {_json_type(value)}")
        out[key] = value
    return out


def _compact_segmentation(ann: Any, aid: int, img: dict[str, Any]) -> tuple[Any, str | None]:
    """Validate a segmentation; return it compact (float64 arrays or an RLE dict) or a problem."""
    if "segmentation" not in ann:
        return None, f"annotation {aid}: missing field 'segmentation'"
    seg = ann["segmentation"]
    if isinstance(seg, simdjson.Array):
        if len(seg) == 0:
            return None, f"annotation {aid}: field 'segmentation': empty polygon list"
        polys = []
        for k, poly in enumerate(seg):
            if not isinstance(poly, simdjson.Array):
                return None, f"annotation {aid}: field 'segmentation[{k}]': expected a list of coordinates"
            try:
                coords = np.frombuffer(poly.as_buffer(of_type="d"), dtype=np.float64)
            except TypeError:
                return None, f"annotation {aid}: field 'segmentation[{k}]': coordinates must be numbers"
            # as_buffer flattens nested lists: a polygon of [x, y] pairs (depth 3) would pass
            if coords.size != len(poly):
                return None, f"annotation {aid}: field 'segmentation[{k}]': expected a flat list of numbers (depth 2)"
            polys.append(coords)
        if valid_side(img.get("width")) and valid_side(img.get("height")):
            problem = polygons_problem(polys, aid, img["height"], img["width"])
            if problem:
                return None, problem
        return polys, None
    if isinstance(seg, simdjson.Object):
        rle = seg.as_dict()
        if valid_side(img.get("width")) and valid_side(img.get("height")):
            problem = rle_problem(rle, aid, img["height"], img["width"])
            if problem:
                return None, problem
        return rle, None
    return None, f"annotation {aid}: field 'segmentation': expected polygons (list) or RLE (object), got {_json_type(seg)}"


def load_coco(path: str | Path, person_category_id: int = 1) -> CocoIndex:
    """Read and validate a COCO instances file (see the module docstring for the policy)."""
    path = Path(path)
    doc = _parse(path)
    arrays = _top_level(doc, path, REQUIRED_TOP_LEVEL)
    top = {k: _to_python(doc[k]) for k in ("info", "licenses") if k in doc}
    cats = arrays["categories"].as_list()
    images = arrays["images"].as_list()

    categories: dict[int, dict[str, Any]] = {}
    for i, cat in enumerate(cats):
        cid = _check_id(cat, "categories", i, path)
        if cid in categories:
            raise UserError(f"{path}: categories[{i}]: field 'id': duplicate category id {cid}")
        categories[cid] = cat
    top["categories"] = cats

    if person_category_id not in categories:
        listed = ", ".join(f"{cid} {str(c.get('name', '?'))!r}" for cid, c in sorted(categories.items())[:20])
        more = f" (and {len(categories) - 20} more)" if len(categories) > 20 else ""
        raise UserError(
            f"{path}: categories: no category with id {person_category_id} (curate.person_category_id); "
            f"the file has {listed or 'no categories'}{more}"
        )

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

    persons_by_image: dict[int, list[dict[str, Any]]] = defaultdict(list)
    n_annotations: dict[int, int] = defaultdict(int)
    seen_ann_ids: set[int] = set()
    for i, ann in enumerate(arrays["annotations"]):
        if not isinstance(ann, simdjson.Object):
            raise UserError(f"{path}: annotations[{i}]: expected an object, got {_json_type(ann)}")
        aid = ann.get("id")
        if aid is None:
            raise UserError(f"{path}: annotations[{i}]: missing field 'id'")
        if type(aid) is not int:
            raise UserError(f"{path}: annotations[{i}]: field 'id' must be an integer, got {_to_python(aid)!r}")
        if id_out_of_range(aid):
            raise UserError(f"{path}: annotations[{i}]: field 'id' {aid} is outside the 64-bit integer range")
        if aid in seen_ann_ids:
            raise UserError(f"{path}: annotations[{i}]: field 'id': duplicate annotation id {aid}")
        seen_ann_ids.add(aid)
        iid = ann.get("image_id")
        if type(iid) is not int:
            raise UserError(
                f"{path}: annotations[{i}] (id {aid}): field 'image_id' must be an integer, got {_to_python(iid)!r}"
            )
        img = image_by_id.get(iid)
        if img is None:
            raise UserError(f"{path}: annotations[{i}] (id {aid}): field 'image_id': unknown image {iid}")
        n_annotations[iid] += 1
        if aid < 0:
            problems[iid].append(f"annotation {aid}: field 'id' must be >= 0, got {aid}")

        cid = ann.get("category_id")
        crowd = ann.get("iscrowd", 0)
        if type(cid) is not int:
            problems[iid].append(f"annotation {aid}: field 'category_id' must be an integer, got {_to_python(cid)!r}")
        elif cid not in categories:
            problems[iid].append(f"annotation {aid}: field 'category_id': unknown category {cid}")
        if type(crowd) is not int or crowd not in (0, 1):
            problems[iid].append(f"annotation {aid}: field 'iscrowd' must be 0 or 1, got {_to_python(crowd)!r}")
            crowd = 0
        seg, problem = _compact_segmentation(ann, aid, img)
        if problem:
            problems[iid].append(problem)
        if cid == person_category_id:
            persons_by_image[iid].append(
                {"id": aid, "image_id": iid, "category_id": cid, "iscrowd": crowd, "segmentation": seg}
            )
    del arrays
    return CocoIndex(
        path=path,
        top=top,
        images=images,
        categories=categories,
        persons_by_image=dict(persons_by_image),
        n_annotations=dict(n_annotations),
        problems=dict(problems),
        _doc=doc,
    )


def _iter_annotations(path: Path) -> Iterator[tuple[int, Any]]:
    doc = _parse(path)
    arrays = _top_level(doc, path, ("annotations",))
    for i, ann in enumerate(arrays["annotations"]):
        yield i, ann


def load_num_keypoints(path: str | Path, person_category_id: int) -> dict[int, int]:
    """Map annotation id -> num_keypoints from a COCO person_keypoints file."""
    path = Path(path)
    out: dict[int, int] = {}
    for i, ann in _iter_annotations(path):
        if not isinstance(ann, simdjson.Object):
            raise UserError(f"{path}: annotations[{i}]: expected an object, got {_json_type(ann)}")
        aid = ann.get("id")
        if type(aid) is not int:
            raise UserError(f"{path}: annotations[{i}]: field 'id' must be an integer, got {_to_python(aid)!r}")
        if ann.get("category_id", person_category_id) != person_category_id:
            continue
        n = ann.get("num_keypoints")
        if n is None and isinstance(ann.get("keypoints"), simdjson.Array):
            n = sum(1 for v in ann["keypoints"].as_list()[2::3] if v)
        if type(n) is not int or n < 0:
            raise UserError(
                f"{path}: annotations[{i}] (id {aid}): field 'num_keypoints' must be a non-negative integer, "
                f"got {_to_python(n)!r}"
            )
        if aid in out:
            raise UserError(f"{path}: annotations[{i}]: field 'id': duplicate annotation id {aid}")
        out[aid] = n
    return out
