"""Training on real photos: ``portrait_unet`` on ``../shared/realdata/portraits``, scored against the sharp masks.

1. From each sharp mask (``masks/N.png``, made by a background-removal service) a faithful COCO
   polygon per outer contour (``cv2.findContours`` + ``approxPolyDP`` 1 px, contours under 1 % of the
   image left out): ``sharp.json``. The same photos with half of the polygons coarsened exactly as the
   flag benchmark does (``bench.flag_quality.portraits_coco``: every other image few vertices or
   chords through concave parts): ``coarse.json``. Both use the same image ids, so curate's
   hash-of-id splits are the same photos.
2. ``portraitkit curate`` of each (coverage bounds opened for portraits, splits 0.7 / 0.1 / 0.2),
   ``portraitkit flag`` of the coarse one (its flags feed ``train.coarse_policy``), ``portraitkit
   augment`` of each (``--variants`` per train image; 192 photos alone overfit in a few epochs).
3. ``portraitkit train`` (portrait_unet, params.yaml's train section with ``--input-size`` 96,
   ``--lr`` 0.006 and ``--steps`` per run; pilots on 128 px / lr 0.002 / no variants scored lower):
   ``sharp`` on the faithful polygons; ``coarse-keep``, ``coarse-drop`` and ``coarse-ignore_band`` on
   the half-coarse set with that coarse policy (drop and ignore_band from the flag stage's flags).
4. ``portraitkit evaluate`` of every model on the sharp set's test split, then each prediction
   (``predictions/<id>.png``) scored against the photo's own sharp mask (not the polygon): person IoU,
   mIoU (mean of person and background IoU) and Boundary IoU. Target: ``sharp`` person IoU >= 0.85.
5. ``portraitkit report --train --evaluate`` over the runs (``<work>/report/index.html``).

Every number is printed as a table and written as JSON (``--out``). The default run takes about 7
minutes on an idle 2-core machine (each training run about 85 s at 96², one thread); ``--steps`` sets the budget per run, ``--minutes`` derives it from a measured step.

    .venv/bin/python bench/train_real_portraits.py [--steps 900 | --minutes 13] [--runs sharp,coarse-keep,...]
        [--input-size 96] [--lr 0.006] [--variants 3] [--threads 1] [--work /tmp/train_real_portraits] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REALDATA = ROOT.parent / "shared" / "realdata"
RUNS = ("sharp", "coarse-keep", "coarse-drop", "coarse-ignore_band")
TARGET_IOU = 0.85


def _names(src: Path) -> list[Path]:
    # the enumeration (and so the image ids) of bench.flag_quality.portraits_coco
    return sorted((src / "masks").glob("*.png"), key=lambda p: (len(p.stem), p.stem))


def sharp_mask(src: Path, image_id: int, width: int, height: int) -> np.ndarray:
    """The photo's sharp mask (0/1) at the photo's size (some masks are stored at another size)."""
    import cv2

    mpath = _names(src)[image_id - 1]
    mask = cv2.imread(str(mpath), cv2.IMREAD_GRAYSCALE)
    if mask.shape != (height, width):
        mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)
    return (mask > 127).astype(np.uint8)


def sharp_coco(src: Path, out: Path, reference: Path) -> Path:
    """Faithful polygons of every photo of ``reference`` (the half-coarse COCO), same ids and sizes."""
    import cv2

    path = out / "sharp.json"
    if path.is_file():
        return path
    ref = json.loads(reference.read_text())
    images, anns = [], []
    for img in ref["images"]:
        iid, w, h = int(img["id"]), int(img["width"]), int(img["height"])
        mask = sharp_mask(src, iid, w, h)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        contours = [c for c in contours if cv2.contourArea(c) >= 0.01 * h * w]
        segs = []
        for c in contours:
            pts = cv2.approxPolyDP(c, 1.0, True).reshape(-1, 2).astype(np.float64) + 0.5
            if len(pts) >= 3:
                segs.append(pts.reshape(-1).round(2).tolist())
        if not segs:
            continue
        x, y, bw, bh = cv2.boundingRect(np.concatenate(contours))
        images.append(dict(img))
        anns.append({"id": iid, "image_id": iid, "category_id": 1, "iscrowd": 0, "segmentation": segs,
                     "area": float(mask.sum()), "bbox": [float(x), float(y), float(bw), float(bh)]})
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}))
    return path


def portraitkit(*args, log: list | None = None, cwd: Path = ROOT) -> float:
    """Run one ``portraitkit`` command (its own process, like a DVC stage); returns its wall time."""
    cmd = [sys.executable, "-m", "portraitkit", *map(str, args)]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=cwd, env={**os.environ, "FIFTYONE_DO_NOT_TRACK": "true"},
                         capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        sys.exit(f"failed ({res.returncode}): {' '.join(cmd)}\n{res.stderr[-3000:]}")
    lines = [l for l in res.stderr.splitlines() if l.strip() and not l.startswith("params:")]
    print(f"  {args[0]} ({seconds:.0f} s): {lines[-1] if lines else ''}"[:400], flush=True)
    if log is not None:
        log.append({"command": " ".join(cmd), "seconds": round(seconds, 1)})
    return seconds


def score_against_sharp(src: Path, curated: Path, evaluate_dir: Path, band: float) -> dict:
    """Mean person IoU / mIoU / Boundary IoU of evaluate's predictions against the sharp masks."""
    import cv2

    from portraitkit.contracts import read_table
    from portraitkit.train.evaluation import metrics as M
    from portraitkit.train.evaluation.contract import CONTRACT, PREDICTIONS

    per = read_table(evaluate_dir, CONTRACT, "per_image")
    scores = []
    for row in per.itertuples():
        pred = cv2.imread(str(evaluate_dir / PREDICTIONS / f"{row.image_id}.png"), cv2.IMREAD_GRAYSCALE)
        gt = sharp_mask(src, int(row.image_id), int(row.width), int(row.height))
        scores.append(M.score_image(pred > 127, gt, band=band))
    return {k: round(float(v), 4) for k, v in M.summarize(scores).items() if isinstance(v, (int, float))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=REALDATA / "portraits")
    ap.add_argument("--work", type=Path, default=Path("/tmp/train_real_portraits"))
    ap.add_argument("--out", type=Path, default=None, help="JSON of the numbers [default: <work>/results.json]")
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    ap.add_argument("--runs", default=",".join(RUNS), help=f"comma list of {', '.join(RUNS)}")
    ap.add_argument("--steps", type=int, default=900, help="training steps per run")
    ap.add_argument("--minutes", type=float, default=None,
                    help="total training minutes over the runs instead of --steps (steps from a measured step)")
    ap.add_argument("--input-size", type=int, default=96)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=0.006, help="peak AdamW learning rate")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (2 can be several times slower on a busy 2-core machine)")
    ap.add_argument("--workers", type=int, default=2, help="curate / flag / augment processes")
    ap.add_argument("--variants", type=int, default=3,
                    help="augment stage variants per train image, trained on beside the photos (0: none)")
    ap.add_argument("--seed", type=int, default=0, help="coarsening seed (as bench/flag_quality.py)")
    a = ap.parse_args(argv)
    if not (a.src / "masks").is_dir():
        print(f"{a.src}: not present (see ../shared/realdata/README.md); nothing to do")
        return 0
    runs = [r for r in a.runs.split(",") if r]
    bad = [r for r in runs if r not in RUNS]
    if bad:
        sys.exit(f"--runs: unknown {', '.join(bad)} (choose from {', '.join(RUNS)})")
    work = a.work
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    log: list = []

    from bench.flag_quality import portraits_coco

    # 1. the two COCO files
    coarse_dir, images, truth = portraits_coco(a.src, work, a.seed)
    coarse_json = coarse_dir / "train.json"
    sharp_json = sharp_coco(a.src, work, coarse_json)
    n_images = len(json.loads(sharp_json.read_text())["images"])
    print(f"{n_images} photos; half-coarse COCO: {sum(truth.values())} of {len(truth)} polygons coarsened", flush=True)

    # params of the benchmark: params.yaml with portrait-friendly curate bounds and this budget
    params = yaml.safe_load(a.params.read_text())
    params["curate"].update(min_coverage=0.05, max_coverage=0.98, split={"train": 0.7, "val": 0.1, "test": 0.2})
    params["evaluate"]["split"] = "test"
    steps = a.steps
    if a.minutes is not None:
        from bench.train_speed import step_seconds

        per_step = float(np.median(step_seconds("portrait_unet", a.input_size, 3, a.batch, "cpu", a.threads, 3, 1)))
        steps = max(20, int(a.minutes * 60 / max(len(runs), 1) / per_step))
        print(f"--minutes {a.minutes:g}: {per_step:.3f} s/step measured -> {steps} steps per run", flush=True)
    params["train"].update(arch="portrait_unet", lr=a.lr, input_size=a.input_size, batch_size=a.batch, steps=steps,
                           val_every=max(1, steps // 8), threads=a.threads, device="cpu", progress=False)
    pfile = work / "params.yaml"
    pfile.write_text(yaml.safe_dump(params, sort_keys=False))

    # 2. curate both, flag the coarse one
    cur = {"sharp": work / "curated-sharp", "coarse": work / "curated-coarse"}
    for name, ann in (("sharp", sharp_json), ("coarse", coarse_json)):
        if not (cur[name] / "test.json").is_file():
            portraitkit("curate", "--annotations", ann, "--images", images, "--masks", "--out", cur[name],
                        "--workers", a.workers, "--params", pfile, log=log)
    flags = work / "flags-coarse"
    if any(r in runs for r in ("coarse-drop", "coarse-ignore_band")) and not (flags / "flags.parquet").is_file():
        portraitkit("flag", "--curated", cur["coarse"], "--images", images, "--out", flags, "--workers", a.workers,
                    "--params", pfile, log=log)
    aug = {}
    if a.variants:
        sets = {"sharp" if r == "sharp" else "coarse" for r in runs}
        for name in sorted(sets):
            aug[name] = work / f"augmented-{name}-{a.variants}"
            if not (aug[name] / "variants.parquet").is_file():
                portraitkit("augment", "--curated", cur[name], "--images", images, "--out", aug[name],
                            "--variants", a.variants, "--workers", a.workers, "--params", pfile, log=log)
    results: dict = {"photos": n_images, "coarsened": int(sum(truth.values())), "steps_per_run": steps,
                     "lr": params["train"]["lr"], "variants": a.variants, "input_size": a.input_size, "batch": a.batch, "threads": a.threads, "runs": {}}
    if (flags / "flags.parquet").is_file():
        import pandas as pd

        from bench.flag_quality import pr

        f = pd.read_parquet(flags / "flags.parquet")
        f = f[f["annotation_id"].isin(list(truth))]
        results["flag_vs_truth"] = {**pr(f["flagged"], f["annotation_id"].map(truth)), "persons": int(len(f))}

    # 3-4. train, evaluate on the sharp test split, score against the sharp masks
    band = float(params["evaluate"]["biou_band"])
    for run in runs:
        policy = "keep" if run == "sharp" else run.split("-", 1)[1]
        curated = cur["sharp" if run == "sharp" else "coarse"]
        tdir, edir = work / "train" / run, work / "evaluate" / run
        extra = ["--flags", flags] if policy != "keep" else []
        if a.variants:
            extra += ["--augmented", aug["sharp" if run == "sharp" else "coarse"]]
        t_train = portraitkit("train", "--curated", curated, "--images", images, "--out", tdir,
                              "--coarse-policy", policy, "--no-progress", "--params", pfile, *extra, log=log)
        portraitkit("evaluate", "--model", tdir / "model.pt", "--curated", cur["sharp"], "--images", images,
                    "--out", edir, "--split", "test", "--device", "cpu", "--threads", a.threads, "--params", pfile, log=log)
        tm = json.loads((tdir / "metrics.json").read_text())
        em = json.loads((edir / "metrics.json").read_text())
        sharp = score_against_sharp(a.src, cur["sharp"], edir, band)
        results["runs"][run] = {
            "policy": policy, "n_train": tm["n_train"], "left_out_coarse": tm.get("n_left_out_coarse"),
            "best_step": tm.get("best_step"), "val_iou": round(float(tm["val_iou"]), 4), "train_seconds": round(t_train),
            "seconds_per_step": json.loads((tdir / "timing.json").read_text())["seconds_per_step"],
            "test_images": em["n_images"],
            "test_vs_polygons": {k: round(float(em[k]), 4) for k in ("iou", "miou", "boundary_iou")},
            "test_vs_sharp": {k: sharp[k] for k in ("iou", "miou", "boundary_iou")},
        }

    # 5. the report over the runs
    # (run in the work folder: the data stages this benchmark has no output of stay "not run")
    portraitkit("report", "--out", work / "report", "--curated", cur["sharp"], "--images", images,
                "--train", work / "train", "--evaluate", work / "evaluate", "--params", pfile, log=log, cwd=work)
    results["total_seconds"] = round(time.perf_counter() - t_start)
    results["commands"] = log

    print()
    print(f"portrait_unet {a.input_size}px, batch {a.batch}, {steps} steps per run, {a.threads} threads; "
          f"test split of the sharp set ({next(iter(results['runs'].values()))['test_images'] if results['runs'] else 0} photos)")
    if "flag_vs_truth" in results:
        fv = results["flag_vs_truth"]
        print(f"flag stage on the half-coarse set: precision {fv.get('precision')}, recall {fv.get('recall')}")
    print("| run | train images | left out | val IoU | IoU vs polygons | IoU vs sharp | mIoU vs sharp | Boundary IoU vs sharp | train s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for run, r in results["runs"].items():
        s = r["test_vs_sharp"]
        print(f"| {run} | {r['n_train']} | {r['left_out_coarse'] or 0} | {r['val_iou']:.4f} | {r['test_vs_polygons']['iou']:.4f} "
              f"| {s['iou']:.4f} | {s['miou']:.4f} | {s['boundary_iou']:.4f} | {r['train_seconds']} |")
    if "sharp" in results["runs"]:
        got = results["runs"]["sharp"]["test_vs_sharp"]["iou"]
        print(f"target: sharp person IoU >= {TARGET_IOU}: {got:.4f} {'MET' if got >= TARGET_IOU else 'NOT MET'}")
    print(f"total {results['total_seconds']} s; report: {work / 'report' / 'index.html'}")
    out = a.out or work / "results.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"numbers: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
