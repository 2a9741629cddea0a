"""Speed of the augmentation pipeline: images per second at 256^2 and 640^2.

Three ways of doing the same work, on the same image and the same seeds:

* ``bare``: the pipeline's transform objects called one after another
  (``t(image=..., mask=...)``), random state set once per call: what albumentations
  costs by itself;
* ``full``: :class:`augment.pipeline.Augmenter` as training and the stage call it
  (Compose, per-call seeding, applied-params capture, keypoint handling, the realism
  measurement);
* ``full+clicks``: the same with 6 clicks and one instance mask.

Redraws by the realism check are real extra work but not overhead: the bare loop
replays exactly the attempts the full pipeline made, so both do the same
transforms. Overhead = full / bare - 1 (target <= 10 %).

    .venv/bin/python bench/augment_speed.py [--image PATH] [--calls 200]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from portraitkit.augment.pipeline import Augmenter, Click, rng_pair  # noqa: E402
from portraitkit.params import load_params  # noqa: E402


def test_image(size: int, path: str | None) -> tuple[np.ndarray, np.ndarray]:
    if path:
        bgr = cv2.imread(path)
        img = cv2.cvtColor(cv2.resize(bgr, (size, size), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    else:
        rng = np.random.default_rng(0)
        yy, xx = np.mgrid[:size, :size]
        img = np.stack([60 + 120 * xx / size, 80 + 90 * yy / size, 160 - 80 * xx / size], -1)
        img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
    mask = np.zeros((size, size), np.uint8)
    cv2.ellipse(mask, (size // 2, size // 3), (size // 8, size // 6), 0, 0, 360, 1, -1)
    cv2.rectangle(mask, (size // 3, size // 2), (2 * size // 3, size - 1), 1, -1)
    return img, mask


def bare_call(transforms, img, mask, seed, attempts: int) -> None:
    for k in range(attempts):
        rng, py = rng_pair([*seed, k])
        for t in transforms:
            t.set_random_state(rng, py)
        data = {"image": img, "mask": mask}
        for t in transforms:
            data = t(**data)


def measure(aug: Augmenter, img, mask, seeds, clicks, inst, clock) -> tuple[dict[str, float], int]:
    """One round, the three ways interleaved call by call (load changes hit all alike)."""
    transforms = [t for _, t in aug.named]
    tot = {"bare": 0.0, "full": 0.0, "clicks": 0.0}
    redraws = 0
    for s in seeds:
        t0 = clock()
        r = aug(img, mask, seed=s)
        t1 = clock()
        bare_call(transforms, img, mask, s, r.attempts)
        t2 = clock()
        aug(img, mask, seed=s, clicks=clicks, instance_masks=inst)
        t3 = clock()
        tot["full"] += t1 - t0
        tot["bare"] += t2 - t1
        tot["clicks"] += t3 - t2
        redraws += r.attempts - 1
    return tot, redraws


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", help="a photo to use (resized); default: a synthetic one")
    ap.add_argument("--calls", type=int, default=200, help="calls per measurement at 256^2 (640^2: a third)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best round counts")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                    help="process CPU time (robust on a shared machine; single-threaded) or wall time")
    args = ap.parse_args()
    if args.image is None:
        real = Path(__file__).resolve().parents[2] / "shared/realdata/portraits/images/1.jpg"
        args.image = str(real) if real.is_file() else None

    params = load_params(args.params).augment
    aug = Augmenter(params)
    cv2.setNumThreads(1)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    print(f"image: {args.image or 'synthetic'}; cv2 threads 1; {args.clock} time; best of {args.rounds} rounds, "
          "the three ways interleaved call by call")
    print(f"{'size':>5} {'bare img/s':>11} {'full img/s':>11} {'overhead':>9} {'full+clicks':>12} {'overhead':>9} "
          f"{'redraws':>8}")
    for size in (256, 640):
        img, mask = test_image(size, args.image)
        n = args.calls if size == 256 else max(20, args.calls // 3)
        seeds = [[1, 2, i] for i in range(n)]
        ys, xs = np.nonzero(mask)
        bys, bxs = np.nonzero(mask == 0)
        clicks = [Click(int(xs[i]), int(ys[i]), True, 0) for i in (0, len(xs) // 2, len(xs) - 1)]
        clicks += [Click(int(bxs[i]), int(bys[i]), False, 0) for i in (0, len(bxs) // 2, len(bxs) - 1)]
        measure(aug, img, mask, seeds[:5], clicks, [mask], clock)  # warm-up (tables, imports)
        best = {"bare": 1e9, "full": 1e9, "clicks": 1e9}
        for _ in range(args.rounds):
            tot, redraws = measure(aug, img, mask, seeds, clicks, [mask], clock)
            best = {k: min(best[k], tot[k]) for k in best}
        ips = {k: n / v for k, v in best.items()}
        over = best["full"] / best["bare"] - 1
        over_c = best["clicks"] / best["bare"] - 1
        print(f"{size:>4}² {ips['bare']:>11.1f} {ips['full']:>11.1f} {100 * over:>8.1f}% {ips['clicks']:>12.1f} "
              f"{100 * over_c:>8.1f}% {redraws:>8d}")


if __name__ == "__main__":
    main()
