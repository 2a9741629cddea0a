"""Contact sheets for hand-labelling the coarseness of real COCO person polygons.

Selection rule (``select_persons``, reproducible, no score involved): every non-crowd person
annotation with a polygon segmentation and ``area >= 5000`` in ``coco-mini/instances.json`` and
``coco-val-single-person/person_keypoints.json``, sorted by ``stable_key(annotation_id)`` (SHA-1 of
the decimal id), the first ``--per-source`` of each source (an id already taken from an earlier
source is skipped). Each tile is the photo cropped to the bbox padded by 35 % of its longer side,
the polygon outline drawn on it (1 px lime line, vertices as dots), scaled to fit ``--tile`` px,
the annotation id written in its corner. Images are read from ``../shared/realdata`` and never
copied; sheets go to ``--out`` (default ``/tmp/flag/sheets``).

    python bench/make_label_sheets.py [--per-source 85] [--tile 480] [--cols 3] [--rows 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"
SOURCES = (("coco-mini", "instances.json"), ("coco-val-single-person", "person_keypoints.json"))
MIN_AREA = 5000.0
PAD = 0.35


def stable_key(annotation_id: int) -> str:
    return hashlib.sha1(str(int(annotation_id)).encode()).hexdigest()


def select_persons(realdata: Path = REALDATA, per_source: int = 85) -> list[dict]:
    """The labelled persons, in sheet order: dicts with annotation_id, image_id, source, file, ann, image."""
    chosen: list[dict] = []
    seen: set[int] = set()
    for source, fname in SOURCES:
        coco = json.loads((realdata / source / fname).read_text())
        images = {im["id"]: im for im in coco["images"]}
        person = [c["id"] for c in coco["categories"] if c.get("name") == "person"][0]
        cands = [a for a in coco["annotations"]
                 if a["category_id"] == person and not a.get("iscrowd", 0) and isinstance(a["segmentation"], list)
                 and float(a["area"]) >= MIN_AREA and a["image_id"] in images]
        cands.sort(key=lambda a: stable_key(a["id"]))
        taken = 0
        for a in cands:
            if taken >= per_source:
                break
            if int(a["id"]) in seen:
                continue
            seen.add(int(a["id"]))
            im = images[a["image_id"]]
            chosen.append({"annotation_id": int(a["id"]), "image_id": int(a["image_id"]), "source": source,
                           "file": realdata / source / "images" / im["file_name"], "ann": a, "image": im})
            taken += 1
    return chosen


def tile(rec: dict, size: int) -> np.ndarray:
    import cv2

    img = cv2.imread(str(rec["file"]), cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    x, y, bw, bh = rec["ann"]["bbox"]
    pad = PAD * max(bw, bh)
    x0, y0 = int(max(0, x - pad)), int(max(0, y - pad))
    x1, y1 = int(min(w, x + bw + pad)), int(min(h, y + bh + pad))
    crop = img[y0:y1, x0:x1].copy()
    s = size / max(crop.shape[:2])
    crop = cv2.resize(crop, (max(1, round(crop.shape[1] * s)), max(1, round(crop.shape[0] * s))),
                      interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    for part in rec["ann"]["segmentation"]:
        pts = ((np.asarray(part, float).reshape(-1, 2) - (x0, y0)) * s).round().astype(np.int32)
        cv2.polylines(crop, [pts], True, (0, 255, 0), 1, cv2.LINE_AA)
        for p in pts:
            cv2.circle(crop, tuple(int(v) for v in p), 2, (0, 0, 255), -1)
    out = np.full((size, size, 3), 40, np.uint8)
    out[: crop.shape[0], : crop.shape[1]] = crop
    label = f"{rec['annotation_id']} {'M' if rec['source'] == 'coco-mini' else 'S'} {len(rec['ann']['segmentation'])}p"
    cv2.rectangle(out, (0, 0), (10 + 11 * len(label), 22), (0, 0, 0), -1)
    cv2.putText(out, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.rectangle(out, (0, 0), (size - 1, size - 1), (255, 255, 255), 1)
    return out


def main(argv=None) -> int:
    import cv2

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-source", type=int, default=85)
    ap.add_argument("--tile", type=int, default=480)
    ap.add_argument("--cols", type=int, default=3)
    ap.add_argument("--rows", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("/tmp/flag/sheets"))
    args = ap.parse_args(argv)
    recs = select_persons(per_source=args.per_source)
    args.out.mkdir(parents=True, exist_ok=True)
    per = args.cols * args.rows
    index = []
    for k in range(0, len(recs), per):
        group = recs[k : k + per]
        sheet = np.full((args.rows * args.tile, args.cols * args.tile, 3), 40, np.uint8)
        for j, rec in enumerate(group):
            r, c = divmod(j, args.cols)
            sheet[r * args.tile : (r + 1) * args.tile, c * args.tile : (c + 1) * args.tile] = tile(rec, args.tile)
            index.append(f"{k // per:03d}\t{rec['annotation_id']}\t{rec['image_id']}\t{rec['source']}")
        cv2.imwrite(str(args.out / f"sheet_{k // per:03d}.png"), sheet)
    (args.out / "index.tsv").write_text("sheet\tannotation_id\timage_id\tsource\n" + "\n".join(index) + "\n")
    print(f"{len(recs)} persons on {(len(recs) + per - 1) // per} sheets in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
