"""Benchmark: curate on a COCO-train-2017-scale annotation file.

Generates ~118 k images / ~720 k annotations / ~230 k persons with realistic polygons
and some crowd RLE, then times ``portraitkit curate`` (no --masks) against a plain
pycocotools script (``COCO()`` + ``annToMask`` per person annotation) on the same file.

Targets on a 2-core machine: <= 30 s wall, <= 3 GB peak memory, >= 3x the plain script.

    python bench/curate_scale.py [--images 118287] [--workers 1 2] [--baseline-sample 1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

PERSON_IMAGE_FRACTION = 0.54  # COCO train: 64 k of 118 k images have a person
PERSONS_PER_PERSON_IMAGE = 3.6  # ~230 k persons
OTHERS_PER_IMAGE = 4.1  # ~490 k other annotations
CROWD_FRACTION = 0.008


def star_polygon(rng: np.random.Generator, cx: float, cy: float, r: float, w: int, h: int) -> list[float]:
    n = int(rng.integers(8, 60))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = r * rng.uniform(0.55, 1.0, n)
    xs = np.clip(cx + radii * np.cos(angles), 0, w - 1)
    ys = np.clip(cy + radii * 1.8 * np.sin(angles), 0, h - 1)
    return np.round(np.stack([xs, ys], 1).ravel(), 2).tolist()


def crowd_rle(rng: np.random.Generator, w: int, h: int) -> dict:
    from pycocotools import mask as mask_utils

    m = np.zeros((h, w), np.uint8)
    x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
    m[y0 : y0 + h // 3, x0 : x0 + w // 2] = 1
    flat = m.flatten(order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    edges = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(edges).tolist()
    if flat[0] == 1:
        counts = [0] + counts
    assert sum(counts) == w * h and mask_utils is not None
    return {"size": [h, w], "counts": counts}


def generate(path: Path, n_images: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    images, anns = [], []
    aid = 1
    n_persons = 0
    for iid in range(1, n_images + 1):
        w, h = (640, int(rng.integers(360, 640))) if rng.random() < 0.7 else (int(rng.integers(360, 640)), 640)
        images.append({"license": 1, "file_name": f"{iid:012d}.jpg", "height": h, "width": w, "id": iid})
        if rng.random() < PERSON_IMAGE_FRACTION:
            k = max(1, int(rng.poisson(PERSONS_PER_PERSON_IMAGE - 1)) + 1)
            for _ in range(k):
                r = float(rng.uniform(10, min(w, h) / 3))
                poly = star_polygon(rng, rng.uniform(0, w), rng.uniform(0, h), r, w, h)
                anns.append({"segmentation": [poly], "area": r * r * 3.0, "iscrowd": 0, "image_id": iid,
                             "bbox": [0, 0, 1, 1], "category_id": 1, "id": aid})
                aid += 1
                n_persons += 1
            if rng.random() < CROWD_FRACTION:
                anns.append({"segmentation": crowd_rle(rng, w, h), "area": 1000.0, "iscrowd": 1, "image_id": iid,
                             "bbox": [0, 0, 1, 1], "category_id": 1, "id": aid})
                aid += 1
        for _ in range(int(rng.poisson(OTHERS_PER_IMAGE))):
            r = float(rng.uniform(5, min(w, h) / 4))
            poly = star_polygon(rng, rng.uniform(0, w), rng.uniform(0, h), r, w, h)
            anns.append({"segmentation": [poly], "area": r * r * 2.0, "iscrowd": 0, "image_id": iid,
                         "bbox": [0, 0, 1, 1], "category_id": int(rng.choice([18, 37, 43, 62, 3, 44])), "id": aid})
            aid += 1
    cats = [{"supercategory": "x", "id": c, "name": n} for c, n in
            [(1, "person"), (3, "car"), (18, "dog"), (37, "sports ball"), (43, "tennis racket"), (44, "bottle"), (62, "chair")]]
    data = {"info": {"description": "portraitkit scale bench"}, "licenses": [{"id": 1, "name": "x", "url": ""}],
            "images": images, "annotations": anns, "categories": cats}
    path.write_bytes(orjson.dumps(data))
    return {"images": len(images), "annotations": len(anns), "persons": n_persons,
            "size_mb": round(path.stat().st_size / 1e6, 1)}


BASELINE = r'''
import sys, numpy as np
from pycocotools.coco import COCO
coco = COCO(sys.argv[1])
frac = float(sys.argv[2])
ids = sorted(coco.getImgIds())
ids = ids[: max(1, int(len(ids) * frac))]
kept = 0
for iid in ids:
    img = coco.imgs[iid]
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[iid], catIds=[1], iscrowd=None))
    if not anns:
        continue
    union = np.zeros((img["height"], img["width"]), np.uint8)
    for a in anns:
        union |= coco.annToMask(a)
    cov = union.sum() / union.size
    n = sum(1 for a in anns if not a["iscrowd"])
    if not any(a["iscrowd"] for a in anns) and 1 <= n <= 2 and 0.2 <= cov <= 0.7:
        kept += 1
print(kept)
'''


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds and peak RSS (GB) of the largest process in the command's tree."""
    wrapper = ["/usr/bin/time", "-f", "%M"] if Path("/usr/bin/time").exists() else []
    t0 = time.perf_counter()
    proc = subprocess.run(wrapper + cmd, capture_output=True, text=True, env={**os.environ, "PORTRAITKIT_QUIET": "1"})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    if wrapper:
        peak_gb = int(proc.stderr.strip().splitlines()[-1]) / 1e6
    else:
        peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6
    return wall, peak_gb, proc.stdout + proc.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=118287)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--baseline-sample", type=float, default=1.0,
                    help="fraction of images the plain script processes (its time is scaled up)")
    ap.add_argument("--keep", type=Path, default=None, help="keep the generated file here")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ann = args.keep or tmp / "instances.json"
        t0 = time.perf_counter()
        stats = generate(ann, args.images)
        print(f"generated {stats} in {time.perf_counter() - t0:.1f}s", flush=True)
        results = {"dataset": stats, "curate": {}}
        for w in args.workers:
            wall, peak, _ = timed([sys.executable, "-m", "portraitkit.cli", "curate", "--annotations", str(ann),
                                   "--out", str(tmp / f"out{w}"), "--workers", str(w)])
            results["curate"][f"workers={w}"] = {"wall_s": round(wall, 2), "peak_rss_gb": round(peak, 2)}
            print(f"portraitkit curate --workers {w}: {wall:.1f} s wall, {peak:.2f} GB peak RSS", flush=True)
        outs = [tmp / f"out{w}" / "manifest.parquet" for w in args.workers]
        same = len({p.read_bytes() for p in outs}) == 1
        print(f"outputs identical across worker counts: {same}")
        script = tmp / "baseline.py"
        script.write_text(BASELINE)
        wall, peak, _ = timed([sys.executable, str(script), str(ann), str(args.baseline_sample)])
        scaled = wall / args.baseline_sample
        results["baseline"] = {"wall_s": round(scaled, 2), "peak_rss_gb": round(peak, 2), "sample": args.baseline_sample}
        best = min(v["wall_s"] for v in results["curate"].values())
        print(f"plain pycocotools script: {scaled:.1f} s wall"
              f"{' (scaled from a %.0f%% sample)' % (100 * args.baseline_sample) if args.baseline_sample < 1 else ''}"
              f", {peak:.2f} GB peak RSS")
        print(f"speed-up: {scaled / best:.1f}x  (targets: <= 30 s, <= 3 GB, >= 3x)")
        results["speedup"] = round(scaled / best, 2)
        results["identical_across_workers"] = same
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
