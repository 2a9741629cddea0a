"""``portraitkit train`` features on the session pipeline's real outputs (CPU, 32-64 px, a few steps):
best checkpoint by val IoU + dvclive, --resume, coarse-label policies, --augmented, iterative clicks,
torchrun DDP, the arch registry and short errors for foreign checkpoints."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import get_args

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from tests.conftest import run_portraitkit
from portraitkit.curate.masks import union_mask
from portraitkit.curate.outputs import read_split
from portraitkit.errors import UserError
from portraitkit.io import read_json
from portraitkit.outputs import MARKER
from portraitkit.params import load_params
from portraitkit.params.train import TrainParams
from portraitkit.train import training
from portraitkit.train.checkpoint import load_checkpoint
from portraitkit.train.letterbox import letterbox_image, letterbox_mask
from portraitkit.train.models import ARCHITECTURES, build_model


def _params_file(stage_outputs, folder: Path, **train) -> Path:
    params = yaml.safe_load(stage_outputs.params.read_text())
    params["train"].update({"input_size": 32, "batch_size": 4, "steps": 2, "warmup_steps": 1, **train})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def _train(stage_outputs, params: Path, out: Path, *extra) -> str:
    return run_portraitkit("train", "--curated", stage_outputs.curated, "--images", stage_outputs.images,
                           "--out", out, "--device", "cpu", "--threads", 1, "--params", params, *extra)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------ 1. best checkpoint, dvclive


def test_best_checkpoint_by_val_iou_and_dvclive_inside_out_only(stage_outputs, tmp_path, monkeypatch):
    ws = tmp_path / "ws"  # a git + DVC workspace as the cwd: dvclive must not touch it (no exp, no dvc.yaml)
    ws.mkdir()
    if shutil.which("git"):
        subprocess.run(["git", "init", "-q", str(ws)], check=True)
    # the real CLI in its own process: in-process, dvc's logger keeps a stream an earlier test's capture closed
    dvc = Path(sys.executable).with_name("dvc")
    subprocess.run([str(dvc), "init", "-q"] + ([] if (ws / ".git").exists() else ["--no-scm"]), cwd=ws, check=True)
    params = _params_file(stage_outputs, tmp_path, steps=6, val_every=2, lr=0.002)  # this seed peaks before its last step
    before = _tree(ws)
    monkeypatch.chdir(ws)
    out = tmp_path / "out"
    _train(stage_outputs, params, out)
    assert _tree(ws) == before, "train wrote outside --out"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "params.yaml", "ws"]

    m = read_json(out / "metrics.json")
    curve = [(c["step"], c["val_iou"]) for c in m["val_curve"]]
    assert [s for s, _ in curve] == [2, 4, 6]
    best_step, best_iou = max(curve, key=lambda c: (c[1], -c[0]))  # the first step with the highest IoU
    assert (m["best_step"], m["best_val_iou"], m["val_iou"]) == (best_step, best_iou, best_iou)
    assert m["final_val_iou"] == curve[-1][1]
    model, meta = load_checkpoint(out / "model.pt")
    assert meta["step"] == best_step and meta["best_val_iou"] == best_iou
    val = training.load_split(stage_outputs.curated, stage_outputs.images, "val", 32)
    assert training.iou(model, val, "cpu") == pytest.approx(best_iou, abs=1e-12)  # model.pt holds the best weights
    assert curve[-1][1] != best_iou, "this seeded run must peak before its last step, or the test cannot tell best from last"

    live = out / "dvclive"
    loss = pd.read_csv(live / "plots" / "metrics" / "train" / "loss.tsv", sep="\t")
    assert list(loss["step"]) == list(range(1, 7)) and np.isfinite(loss["loss"]).all()
    assert loss["loss"].iloc[-1] == pytest.approx(m["final_loss"])
    assert len(pd.read_csv(live / "plots" / "metrics" / "train" / "lr.tsv", sep="\t")) == 6
    val_tsv = pd.read_csv(live / "plots" / "metrics" / "val" / "iou.tsv", sep="\t")
    assert list(val_tsv["step"]) == [s for s, _ in curve]  # the same step numbers as metrics.json and model.pt
    assert list(val_tsv["iou"]) == pytest.approx([v for _, v in curve])
    assert not list(live.rglob("dvc.yaml")) and not (out / training.LAST).exists()


# ------------------------------------------------------------------ 2. --resume


def test_resume_after_interruption_gives_the_same_bytes(stage_outputs, tmp_path):
    params_file = _params_file(stage_outputs, tmp_path, steps=7, val_every=2, checkpoint_every=2)
    params = load_params(params_file)
    params.train = params.train.model_copy(update={"device": "cpu", "progress": False})
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    training.train(stage_outputs.curated, stage_outputs.images, whole, params)
    with pytest.raises(training.TrainingInterrupted):  # "killed" after step 5: the state of step 4 survives
        training.train(stage_outputs.curated, stage_outputs.images, cut, params, stop_after=5)
    state = torch.load(cut / training.LAST, weights_only=True)
    assert state["step"] == 4 and not (cut / "model.pt").exists()
    assert set(state) >= {"model", "optimizer", "rng", "order", "history", "best"}

    _train(stage_outputs, params_file, cut, "--resume")
    assert (cut / "model.pt").read_bytes() == (whole / "model.pt").read_bytes()
    assert (cut / "metrics.json").read_bytes() == (whole / "metrics.json").read_bytes()
    for tsv in ("train/loss.tsv", "train/lr.tsv", "val/iou.tsv"):
        path = Path("dvclive/plots/metrics") / tsv
        assert (cut / path).read_bytes() == (whole / path).read_bytes(), tsv
    assert not (cut / training.LAST).exists()

    # a state from other params is refused, not silently continued
    with pytest.raises(training.TrainingInterrupted):
        training.train(stage_outputs.curated, stage_outputs.images, cut, params, stop_after=3)
    other = params.model_copy(deep=True)
    other.train = other.train.model_copy(update={"lr": params.train.lr * 2})  # any lr but the trained one
    with pytest.raises(UserError, match="other params digest"):
        training.train(stage_outputs.curated, stage_outputs.images, cut, other, resume=True)


def test_resume_after_a_real_sigterm(stage_outputs, tmp_path):
    import signal
    import time

    params = _params_file(stage_outputs, tmp_path, steps=40, val_every=10, checkpoint_every=2)
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "portraitkit", "train", "--curated", str(stage_outputs.curated), "--images",
           str(stage_outputs.images), "--out", str(out), "--device", "cpu", "--threads", "1", "--params", str(params)]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env={**os.environ, "PORTRAITKIT_QUIET": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while not (out / training.LAST).exists() and proc.poll() is None:  # wait for the first training state
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, f"the run ended before the signal: {err[-2000:]}"
    assert not (out / "model.pt").exists() and (out / training.LAST).is_file()
    _train(stage_outputs, params, out, "--resume")
    _train(stage_outputs, params, tmp_path / "whole")
    assert (out / "model.pt").read_bytes() == (tmp_path / "whole" / "model.pt").read_bytes()
    assert (out / "metrics.json").read_bytes() == (tmp_path / "whole" / "metrics.json").read_bytes()


def test_resume_without_state_starts_from_scratch(stage_outputs, tmp_path):
    params = _params_file(stage_outputs, tmp_path)
    _train(stage_outputs, params, tmp_path / "a")
    _train(stage_outputs, params, tmp_path / "b", "--resume")
    assert (tmp_path / "a" / "model.pt").read_bytes() == (tmp_path / "b" / "model.pt").read_bytes()


# ------------------------------------------------------------------ 3. coarse-label policies


def _flagged(stage_outputs) -> frozenset:
    flagged = training.read_flags(stage_outputs.flags)
    train = read_split(stage_outputs.curated / "train.json")
    assert flagged & {int(a["id"]) for a in train["annotations"]}, "the fixture has no flagged train person"
    return flagged


def test_ignore_band_ignores_exactly_the_band_around_flagged_outlines(stage_outputs):
    from scipy.ndimage import distance_transform_edt

    size, px = 64, 2
    flagged = _flagged(stage_outputs)
    keep = training.load_split(stage_outputs.curated, stage_outputs.images, "train", size)
    band = training.load_split(stage_outputs.curated, stage_outputs.images, "train", size,
                               policy=training.CoarsePolicy("ignore_band", flagged, px))
    assert list(band.image_ids) == list(keep.image_ids) and np.array_equal(band.x, keep.x)
    train = read_split(stage_outputs.curated / "train.json")
    imgs = {int(im["id"]): im for im in train["images"]}
    changed = 0
    for i, image_id in enumerate(keep.image_ids):
        img = imgs[int(image_id)]
        h, w = int(img["height"]), int(img["width"])
        lb = letterbox_image(np.zeros((h, w, 3), np.uint8), size)[1]
        expected = np.zeros((size, size), bool)
        for ann in train["annotations"]:
            if int(ann["image_id"]) == image_id and int(ann["id"]) in flagged and ann["category_id"] == 1:
                lm = letterbox_mask(union_mask([ann], h, w), lb)
                # both sides of the outline: within px (Euclidean) of a person pixel and of a background pixel
                expected |= (distance_transform_edt(lm != 1) <= px) & (distance_transform_edt(lm != 0) <= px)
        ignored = (keep.y[i] == 255) | expected
        assert np.array_equal(band.y[i] == 255, ignored), f"image {image_id}"
        assert np.array_equal(band.y[i][~ignored], keep.y[i][~ignored])
        changed += int(expected.any() and (keep.y[i][expected] != 255).any())
    assert changed > 0


def test_drop_leaves_out_images_with_a_flagged_person(stage_outputs, tmp_path):
    flagged = _flagged(stage_outputs)
    train = read_split(stage_outputs.curated / "train.json")
    bad = {int(a["image_id"]) for a in train["annotations"] if int(a["id"]) in flagged}
    dropped = training.load_split(stage_outputs.curated, stage_outputs.images, "train", 32,
                                  policy=training.CoarsePolicy("drop", flagged))
    assert set(dropped.image_ids) == {int(im["id"]) for im in train["images"]} - bad
    assert dropped.left_out == len(bad)

    params = _params_file(stage_outputs, tmp_path)
    _train(stage_outputs, params, tmp_path / "d", "--flags", stage_outputs.flags, "--coarse-policy", "drop")
    m = read_json(tmp_path / "d" / "metrics.json")
    assert (m["coarse_policy"], m["n_left_out_coarse"], m["n_train"]) == ("drop", len(bad), len(dropped.x))
    with pytest.raises(AssertionError, match="needs --flags"):
        _train(stage_outputs, params, tmp_path / "e", "--coarse-policy", "ignore_band")


# ------------------------------------------------------------------ 4. --augmented


def test_augmented_variants_of_train_images_only(stage_outputs, tmp_path):
    src = stage_outputs.augmented
    rows = pd.read_parquet(src / "variants.parquet")
    train_ids = {int(im["id"]) for im in read_split(stage_outputs.curated / "train.json")["images"]}
    val_ids = sorted(int(im["id"]) for im in read_split(stage_outputs.curated / "val.json")["images"])
    assert len(rows) and val_ids
    # a variant row pointing at a val image (an augment run on another split, or a hand edit) must not train
    aug = tmp_path / "augmented"
    shutil.copytree(src, aug)
    leak = rows.iloc[[0]].copy()
    leak["image_id"] = val_ids[0]
    pd.concat([rows, leak]).to_parquet(aug / "variants.parquet")
    split, counts = training.load_augmented(aug, stage_outputs.curated, 32)
    assert set(split.image_ids) <= train_ids and val_ids[0] not in set(split.image_ids)
    assert counts == {"n_augmented": len(rows), "augmented_not_train": 1, "augmented_left_out": 0}
    assert (split.y == 255).any() and set(np.unique(split.y)) <= {0, 1, 255}

    params = _params_file(stage_outputs, tmp_path)
    _train(stage_outputs, params, tmp_path / "t", "--augmented", aug)
    m = read_json(tmp_path / "t" / "metrics.json")
    assert m["n_augmented"] == len(rows) and m["n_train"] == len(train_ids) + len(rows)


def test_augmented_ignore_band_replays_each_flagged_persons_outline(stage_outputs):
    import json

    from scipy.ndimage import distance_transform_edt

    from portraitkit.augment.pipeline import replay
    from portraitkit.params.augment import AugmentParams

    size, px = 64, 2
    flagged = _flagged(stage_outputs)
    keep, _ = training.load_augmented(stage_outputs.augmented, stage_outputs.curated, size)
    band, counts = training.load_augmented(stage_outputs.augmented, stage_outputs.curated, size,
                                           training.CoarsePolicy("ignore_band", flagged, px))
    assert counts["augmented_left_out"] == 0 and np.array_equal(band.x, keep.x)
    train = read_split(stage_outputs.curated / "train.json")
    imgs = {int(im["id"]): im for im in train["images"]}
    params = AugmentParams.model_validate(read_json(stage_outputs.augmented / "summary.json")["params"])
    rows = pd.read_parquet(stage_outputs.augmented / "variants.parquet").sort_values(["image_id", "variant"])
    changed = 0
    for i, row in enumerate(rows.itertuples(index=False)):
        img = imgs[int(row.image_id)]
        h, w = int(img["height"]), int(img["width"])
        anns = [a for a in train["annotations"] if a["image_id"] == row.image_id and a["category_id"] == 1]
        union = union_mask(anns, h, w)
        if (stage_outputs.curated / "masks" / f"{row.image_id}.png").is_file():
            import cv2
            union = (cv2.imread(str(stage_outputs.curated / "masks" / f"{row.image_id}.png"), 0) > 0).astype(np.uint8)
        res = replay({"transforms": row.transforms}, np.zeros((h, w, 3), np.uint8), union, params,
                     instance_masks=[union_mask([a], h, w) for a in anns])
        lb = letterbox_image(np.zeros((*res.mask.shape, 3), np.uint8), size)[1]
        expected = np.zeros((size, size), bool)
        for ann, m in zip(anns, res.instance_masks):
            if int(ann["id"]) in flagged:
                lm = letterbox_mask(m, lb)
                expected |= (distance_transform_edt(lm != 1) <= px) & (distance_transform_edt(lm != 0) <= px)
        assert np.array_equal(band.y[i] == 255, (keep.y[i] == 255) | expected), f"variant {row.image_id}/{row.variant}"
        changed += int((keep.y[i][expected] != 255).any())
    assert changed > 0


def test_interactive_augmented_uses_moved_click_sets_of_train_images(stage_outputs, tmp_path):
    aug = tmp_path / "augmented"
    shutil.copytree(stage_outputs.augmented, aug)
    sets = pd.read_parquet(aug / "clicks.parquet")
    leak = sets.iloc[[0]].copy()
    leak["split"] = "val"
    pd.concat([sets, leak]).to_parquet(aug / "clicks.parquet")
    data, counts = training.load_augmented(aug, stage_outputs.curated, 32, interactive=True)
    plain, _ = training.load_augmented(aug, stage_outputs.curated, 32)
    assert counts["n_augmented"] == len(sets[sets["split"] == "train"]) == len(data.x) and data.x.shape[1] == 5
    rows = pd.read_parquet(aug / "variants.parquet").sort_values(["image_id", "variant"]).reset_index(drop=True)
    pos = {(r.image_id, r.variant): k for k, r in rows.iterrows()}
    by_variant = sets.sort_values(["image_id", "variant", "annotation_id", "strategy", "set_index"])
    for i, c in enumerate(by_variant.itertuples(index=False)):
        union = plain.y[pos[(c.image_id, c.variant)]]
        assert np.array_equal(data.x[i, :3], plain.x[pos[(c.image_id, c.variant)]])
        assert ((data.y[i] == 1) <= (union == 1)).all() and ((union == 255) <= (data.y[i] == 255)).all()
        for ch, clicks in ((3, c.positives), (4, c.negatives)):  # a plane is "far" everywhere only without clicks
            assert (data.x[i, ch].min() < 1.0) == (len(clicks) > 0)


# ------------------------------------------------------------------ 5. iterative training


def test_error_clicks_come_from_the_models_own_prediction(stage_outputs):
    from portraitkit.annotate.clicks.iterative import next_click

    data = training.load_interactive_split(stage_outputs.curated, stage_outputs.images, stage_outputs.clicks, "train", 32)
    x, y = data.x[:4], data.y[:4]
    torch.manual_seed(0)
    model = build_model("portrait_unet", in_channels=5).eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(x))[:, 0].numpy() >= 0
    new, added = training.add_error_clicks(model, x, y, data.boxes[:4], data.scales[:4], "cpu", "area", 1)
    assert added > 0 and np.array_equal(new[:, :3], x[:, :3]) and (new <= x).all()
    for i in range(4):
        c = next_click(np.where(y[i] == 255, y[i] == 1, pred[i]), y[i] == 1)
        if c is None:
            assert np.array_equal(new[i], x[i])
            continue
        ch, other = (3, 4) if c.positive else (4, 3)
        assert new[i, ch, c.y, c.x] == 0.0 and np.array_equal(new[i, other], x[i, other])
        px, py, cw, chh = data.boxes[i]
        outside = np.ones((32, 32), bool)
        outside[py : py + chh, px : px + cw] = False
        assert np.array_equal(new[i, ch][outside], x[i, ch][outside])  # the padding stays "far"


def test_iterative_share_changes_training(stage_outputs, tmp_path):
    plain = _params_file(stage_outputs, tmp_path / "p", iterative_share=0.0)
    iterative = _params_file(stage_outputs, tmp_path / "i", iterative_share=1.0, iterative_max_clicks=2)
    for params, out in ((plain, tmp_path / "a"), (iterative, tmp_path / "b")):
        _train(stage_outputs, params, out, "--interactive", "--clicks", stage_outputs.clicks)
    assert read_json(tmp_path / "a" / "metrics.json")["iterative_clicks"] == 0
    assert read_json(tmp_path / "b" / "metrics.json")["iterative_clicks"] > 0
    assert (tmp_path / "a" / "model.pt").read_bytes() != (tmp_path / "b" / "model.pt").read_bytes()


# ------------------------------------------------------------------ 6. torchrun DDP, CUDA


def test_torchrun_two_cpu_processes(stage_outputs, tmp_path):
    params = _params_file(stage_outputs, tmp_path, steps=3)
    out = tmp_path / "ddp"
    env = {**os.environ, "PORTRAITKIT_QUIET": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "portraitkit",
           "train", "--curated", str(stage_outputs.curated), "--images", str(stage_outputs.images), "--out", str(out),
           "--device", "cpu", "--threads", "1", "--params", str(params)]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert read_json(out / "timing.json")["world_size"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp", "params.yaml"]  # rank 1 wrote nothing beside
    assert sorted(p.name for p in out.iterdir() if p.name != MARKER) == ["dvclive", "metrics.json", "model.pt", "timing.json"]
    model, meta = load_checkpoint(out / "model.pt")
    assert meta["step"] == 3 and read_json(out / "metrics.json")["steps"] == 3
    assert proc.stderr.count("train portrait_unet: 3 steps") == 1  # rank 0 reports, once


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_mixed_precision(stage_outputs, tmp_path):
    params = _params_file(stage_outputs, tmp_path, steps=3)
    run_portraitkit("train", "--curated", stage_outputs.curated, "--images", stage_outputs.images, "--out",
                    tmp_path / "c", "--device", "cuda", "--params", params)
    timing = read_json(tmp_path / "c" / "timing.json")
    assert timing["device"].startswith("cuda") and timing["amp"] is True
    assert np.isfinite(read_json(tmp_path / "c" / "metrics.json")["final_loss"])


# ------------------------------------------------------------------ 7. registry, errors


def test_arch_choices_are_the_model_registry():
    from portraitkit.train.cli_train import ArchChoice

    assert tuple(get_args(TrainParams.model_fields["arch"].annotation)) == tuple(ARCHITECTURES)
    assert [c.value for c in ArchChoice] == list(ARCHITECTURES)


@pytest.mark.parametrize("content", ["garbage", "pickled_module", "truncated"])
def test_foreign_model_pt_is_a_short_one_line_error(tmp_path, content):
    path = tmp_path / "model.pt"
    torch.save({"model": torch.nn.Linear(2, 2)}, path)
    if content == "garbage":
        path.write_bytes(b"not a checkpoint" * 64)
    elif content == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(UserError) as err:
        load_checkpoint(path)
    text = str(err.value)
    assert "\n" not in text and "\x1b" not in text and len(text) < len(str(path)) + 100, text


def test_progress_param_and_cli_flag_exist(stage_outputs, tmp_path):
    params = _params_file(stage_outputs, tmp_path, progress=False)
    _train(stage_outputs, params, tmp_path / "q", "--progress")
    assert (tmp_path / "q" / "model.pt").is_file()
