"""NoC of the training-free GrabCut baseline: the number any learned click model must beat.

Runs the error-driven clicker (params.yaml ``clicks.max_clicks``, ``clicks.noc_thresholds``,
``clicks.next_click_rule``) with :class:`annotate.clicks.GrabCutPredictor` on a bounded,
seeded sample of person instances and prints NoC@85 / NoC@90, how many never reached them
and the mean IoU after clicks 1, 3, 5, 10 and 20.

    .venv/bin/python bench/clicks_noc.py                                  # demo data (generated)
    .venv/bin/python bench/clicks_noc.py --curated data/curated --images data/demo/images --split val
    .venv/bin/python bench/clicks_noc.py --coco data/demo/annotations/instances.json --images data/demo/images
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from portraitkit.annotate.clicks import GrabCutPredictor, evaluate_instance, summarize
from portraitkit.curate.masks import ann_to_mask
from portraitkit.params import load_params


def _persons(coco: dict, person_id: int) -> list[tuple[dict, dict]]:
    images = {im["id"]: im for im in coco["images"]}
    return sorted(
        ((images[a["image_id"]], a) for a in coco["annotations"]
         if a["category_id"] == person_id and not a.get("iscrowd", 0) and a["image_id"] in images),
        key=lambda t: t[1]["id"],
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--curated", type=Path, help="curated directory (uses <split>.json)")
    src.add_argument("--coco", type=Path, help="a COCO instances file")
    ap.add_argument("--split", default="val", help="with --curated: which split (default val)")
    ap.add_argument("--images", type=Path, help="images folder (file_name relative to it)")
    ap.add_argument("--demo-images", type=int, default=60, help="without --curated/--coco: demo images to generate")
    ap.add_argument("--instances", type=int, default=40, help="sample size (default 40)")
    ap.add_argument("--min-area", type=int, default=400, help="skip persons smaller than this (px)")
    ap.add_argument("--params", type=Path, default=None)
    ap.add_argument("--json", type=Path, help="also write the summary here")
    args = ap.parse_args()

    params = load_params(args.params)
    cp = params.clicks
    person_id = params.curate.person_category_id
    with tempfile.TemporaryDirectory() as tmp:
        if args.curated:
            coco = json.loads((args.curated / f"{args.split}.json").read_text())
            images_dir = args.images
            source = f"{args.curated}/{args.split}.json"
        elif args.coco:
            coco = json.loads(args.coco.read_text())
            images_dir = args.images
            source = str(args.coco)
        else:
            from portraitkit.curate.demo import generate

            generate(Path(tmp) / "demo", args.demo_images, params.demo.seed, params.demo)
            coco = json.loads((Path(tmp) / "demo" / "annotations" / "instances.json").read_text())
            images_dir = Path(tmp) / "demo" / "images"
            source = f"demo data ({args.demo_images} images, seed {params.demo.seed})"
        if images_dir is None:
            ap.error("--images is required with --curated/--coco")
        persons = [(im, a) for im, a in _persons(coco, person_id) if a.get("area", 1e9) >= args.min_area]
        rng = np.random.default_rng([params.seed, 0x40C])
        pick = sorted(rng.choice(len(persons), size=min(args.instances, len(persons)), replace=False).tolist())
        predictor = GrabCutPredictor()
        results = []
        t0 = time.perf_counter()
        for i in pick:
            im, ann = persons[i]
            image = cv2.imread(str(images_dir / im["file_name"]), cv2.IMREAD_COLOR)
            if image is None:
                raise SystemExit(f"cannot read image {images_dir / im['file_name']}")
            gt = ann_to_mask(ann, im["height"], im["width"])
            if not gt.any():
                continue
            results.append(evaluate_instance(image, gt, predictor, cp.max_clicks, cp.noc_thresholds, cp.next_click_rule))
        elapsed = time.perf_counter() - t0
    s = summarize(results, cp.noc_thresholds)
    print(f"source: {source}")
    print(f"predictor: GrabCut baseline ({vars(predictor)}), rule: {cp.next_click_rule}, "
          f"{s.instances} instances, {cp.max_clicks} clicks, {elapsed:.1f} s")
    for t in cp.noc_thresholds:
        print(f"NoC@{round(t * 100)}: {s.mean_noc[t]:.2f}   never reached: {s.never_reached[t]}/{s.instances}")
    curve = s.mean_iou_per_click
    marks = [k for k in (1, 3, 5, 10, 20) if k <= len(curve)]
    print("mean IoU after click " + ", ".join(f"{k}: {curve[k - 1]:.3f}" for k in marks))
    if args.json:
        args.json.write_text(json.dumps({"source": source, **s.as_dict()}, indent=2) + "\n")


if __name__ == "__main__":
    main()
