"""COCO records for one rendered photo: instances, keypoints and the hidden truth.

Everything a COCO file may hold is here; the pixel-exact masks and which outlines were
coarsened are returned separately so the caller can keep them out of the COCO files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pycocotools import mask as mask_utils

from portraitkit.curate.demo.categories import PERSON
from portraitkit.curate.demo.polygons import COARSENINGS, coarsen, iou, mask_to_polygons, polygon_area, rasterise, to_coco
from portraitkit.curate.demo.render import Layer

LICENSES = [
    {"url": "http://creativecommons.org/licenses/by-nc-sa/2.0/", "id": 1, "name": "Attribution-NonCommercial-ShareAlike License"},
    {"url": "http://creativecommons.org/licenses/by-nc/2.0/", "id": 2, "name": "Attribution-NonCommercial License"},
    {"url": "http://creativecommons.org/licenses/by/2.0/", "id": 4, "name": "Attribution License"},
    {"url": "http://creativecommons.org/licenses/by-sa/2.0/", "id": 5, "name": "Attribution-ShareAlike License"},
]
DATE_CAPTURED = "2013-11-14 00:00:00"
MIN_VISIBLE_PX = 20  # people or things with fewer visible pixels are not annotated


@dataclass
class ImageRecords:
    instances: list[dict] = field(default_factory=list)
    keypoints: list[dict] = field(default_factory=list)
    truth_rows: list[dict] = field(default_factory=list)
    truth_masks: dict[int, np.ndarray] = field(default_factory=dict)  # annotation id -> bool mask


def rle_counts_to_list(counts: bytes | str) -> list[int]:
    """Decode pycocotools' compressed RLE string into the uncompressed list of run lengths."""
    s = counts.encode("ascii") if isinstance(counts, str) else counts
    cnts: list[int] = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = s[p] - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(cnts) > 2:
            x += cnts[-2]
        cnts.append(int(x))
    return cnts


def uncompressed_rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"counts": rle_counts_to_list(rle["counts"]), "size": [int(v) for v in rle["size"]]}


def _bbox(polys: list[list[float]]) -> list[float]:
    pts = np.concatenate([np.asarray(p).reshape(-1, 2) for p in polys])
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    return [round(float(x0), 2), round(float(y0), 2), round(float(x1 - x0), 2), round(float(y1 - y0), 2)]


def _poly_area(seg: list[list[float]]) -> float:
    return round(sum(polygon_area(np.asarray(p).reshape(-1, 2)) for p in seg), 2)


def _keypoints(layer: Layer, own: int, owner: np.ndarray) -> list[int]:
    """17 x [x, y, v]: v=2 visible, 1 hidden behind something in front, 0 outside the photo."""
    h, w = owner.shape
    out: list[int] = []
    for x, y in layer.keypoints:
        xi, yi = int(round(x)), int(round(y))
        if not (0 <= xi < w and 0 <= yi < h):
            out += [0, 0, 0]
            continue
        o = int(owner[yi, xi])
        out += [xi, yi, 1 if o > own else 2]
    return out


def image_records(image_id: int, layers: list[Layer], owner: np.ndarray, rng: np.random.Generator,
                  coarse_fraction: float, epsilon: float) -> ImageRecords:
    """Annotations of one photo from its layers and its owner map (layer index + 1 per pixel)."""
    h, w = owner.shape
    rec = ImageRecords()
    groups: dict[int, list[int]] = {}
    for i, layer in enumerate(layers):
        if layer.group is not None:
            groups.setdefault(layer.group, []).append(i + 1)
    done_groups: set[int] = set()
    k = 0
    for i, layer in enumerate(layers):
        own = i + 1
        if layer.group is not None:
            if layer.group in done_groups:
                continue
            done_groups.add(layer.group)
            mask = np.isin(owner, groups[layer.group])
        else:
            mask = owner == own
        if mask.sum() < MIN_VISIBLE_PX:
            continue
        k += 1
        ann_id = image_id * 1000 + k
        if layer.group is not None:  # a crowd: uncompressed RLE, area and bbox of the mask
            rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
            ann = {"segmentation": uncompressed_rle(mask), "area": float(mask_utils.area(rle)), "iscrowd": 1,
                   "image_id": image_id, "bbox": [round(float(v), 2) for v in mask_utils.toBbox(rle)],
                   "category_id": layer.category_id, "id": ann_id}
            rec.instances.append(ann)
            rec.keypoints.append(_with_keypoints(ann, [0] * 51))
            continue
        polys = mask_to_polygons(mask, epsilon=epsilon)
        if not polys:
            k -= 1
            continue
        seg = to_coco(polys)
        is_person = layer.category_id == PERSON
        coarsening = ""
        if is_person:
            value = iou(rasterise(seg, h, w), mask)
            if rng.random() < coarse_fraction and mask.sum() >= 300:
                method = str(rng.choice(COARSENINGS))
                found = coarsen(mask, method, rng)
                if found is not None:
                    coarse, coarsening, value = found
                    seg = to_coco(coarse)
        ann = {"segmentation": seg, "area": _poly_area(seg), "iscrowd": 0, "image_id": image_id,
               "bbox": _bbox(seg), "category_id": layer.category_id, "id": ann_id}
        rec.instances.append(ann)
        if is_person:
            body_part = layer.kind == "bodypart"
            kps = [0] * 51 if body_part else _keypoints(layer, own, owner)
            rec.keypoints.append(_with_keypoints(ann, kps))
            rec.truth_masks[ann_id] = mask
            rec.truth_rows.append({"annotation_id": ann_id, "image_id": image_id, "coarsened": bool(coarsening),
                                   "coarsening": coarsening, "polygon_iou": round(float(value), 6),
                                   "body_part_only": body_part})
    return rec


def _with_keypoints(ann: dict, kps: list[int]) -> dict:
    return {"segmentation": ann["segmentation"], "num_keypoints": int(sum(1 for v in kps[2::3] if v > 0)),
            "area": ann["area"], "iscrowd": ann["iscrowd"], "keypoints": kps, "image_id": ann["image_id"],
            "bbox": ann["bbox"], "category_id": ann["category_id"], "id": ann["id"]}
