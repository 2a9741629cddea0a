"""The flag stage end to end: outputs, bad inputs, degenerate polygons, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from portraitkit.curate.coarseness import synth
from portraitkit.curate.coarseness.stage import ROW_COLUMNS, run_flag
from portraitkit.errors import UserError
from portraitkit.io import sha256_file
from portraitkit.params.flag import FlagParams

H, W = 240, 320


def _scene(i: int):
    return synth.scene(np.random.default_rng([99, i]), H, W)


def _coco(images, anns):
    return {"images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "person", "supercategory": "person"},
                           {"id": 18, "name": "dog", "supercategory": "animal"}]}


def make_curated(root: Path, n: int = 6) -> tuple[Path, Path, dict[int, str]]:
    """n synthetic images, 2 persons each (faithful + a coarse kind), spread over the three splits."""
    images_dir, curated = root / "images", root / "curated"
    images_dir.mkdir(parents=True)
    curated.mkdir(parents=True)
    kinds = ["few", "chords", "bulge", "shrink"]
    per_split: dict[str, tuple[list, list]] = {"train": ([], []), "val": ([], []), "test": ([], [])}
    truth = {}
    aid = 100
    for i in range(n):
        img, mask, polys = _scene(i)
        name = f"{i:04d}.jpg"
        cv2.imwrite(str(images_dir / name), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        split = ["train", "val", "test"][i % 3]
        ims, anns = per_split[split]
        ims.append({"id": i + 1, "file_name": name, "width": W, "height": H})
        for kind in ("faithful", kinds[i % 4]):
            aid += 1
            anns.append({"id": aid, "image_id": i + 1, "category_id": 1, "iscrowd": 0,
                         "segmentation": [polys[kind]], "area": float(mask.sum()), "bbox": [0, 0, 1, 1]})
            truth[aid] = kind
        # a crowd person and a dog: never scored
        anns.append({"id": 9000 + i, "image_id": i + 1, "category_id": 1, "iscrowd": 1,
                     "segmentation": {"size": [H, W], "counts": [H * W]}, "area": 0, "bbox": [0, 0, 1, 1]})
        anns.append({"id": 9500 + i, "image_id": i + 1, "category_id": 18, "iscrowd": 0,
                     "segmentation": [[1, 1, 10, 1, 10, 10]], "area": 40, "bbox": [1, 1, 9, 9]})
    for split, (ims, anns) in per_split.items():
        (curated / f"{split}.json").write_text(json.dumps(_coco(ims, anns)))
    return curated, images_dir, truth


def test_outputs_and_truth(tmp_path):
    curated, images, truth = make_curated(tmp_path)
    out = tmp_path / "flags"
    summary = run_flag(curated, images, out, FlagParams(), workers=1)
    flags = pd.read_parquet(out / "flags.parquet")
    assert list(flags.columns) == list(ROW_COLUMNS)
    assert flags["annotation_id"].tolist() == sorted(truth)  # one row per non-crowd person, sorted
    assert flags["image_ok"].all()
    assert set(flags["split"]) == {"train", "val", "test"}
    kind = flags["annotation_id"].map(truth)
    coarse = kind != "faithful"
    # every faithful outline passes; each image's coarse outline scores above its faithful one,
    # and the blatant kinds (moved off the edges) are flagged at params.yaml's threshold (tuned on real COCO)
    assert not flags.loc[~coarse, "flagged"].any(), flags[["annotation_id", "coarseness", "reasons"]]
    # (short chords on these 320 px scenes are the flag's weak spot since it was tuned on real COCO: not below)
    by_image = flags.assign(coarse=coarse, kind=kind).groupby("image_id")
    gap = by_image.apply(lambda g: g.loc[g["coarse"], "coarseness"].max() - g.loc[~g["coarse"], "coarseness"].max())
    image_kind = by_image.apply(lambda g: g.loc[g["coarse"], "kind"].iloc[0])
    assert (gap[image_kind != "chords"] > 0.25).all() and (gap >= 0).all(), gap
    assert flags.loc[kind.isin(["bulge", "shrink"]), "flagged"].all()
    assert (flags["flagged"] == (flags["coarseness"] >= FlagParams().threshold)).all()
    assert flags.loc[flags["flagged"], "reasons"].str.len().gt(0).all()
    assert flags["coarseness"].between(0, 1).all()
    imgs = pd.read_parquet(out / "images.parquet")
    assert list(imgs.columns) == ["image_id", "split", "file_name", "n_persons", "n_flagged", "max_coarseness", "image_problem"]
    assert imgs["n_persons"].tolist() == [2] * 6
    assert imgs["n_flagged"].tolist() == flags.groupby("image_id")["flagged"].sum().tolist()
    assert summary == json.loads((out / "summary.json").read_text())
    nf = int(flags["flagged"].sum())
    assert summary["persons"] == 12 and summary["flagged"] == nf and summary["fraction_flagged"] == round(nf / 12, 6)


def test_deterministic_for_any_worker_count(tmp_path):
    curated, images, _ = make_curated(tmp_path, n=8)
    digests = set()
    for k, workers in enumerate((1, 2, 3, 1)):
        out = tmp_path / f"out{k}"
        run_flag(curated, images, out, FlagParams(), workers=workers)
        digests.add(tuple(sha256_file(out / f) for f in ("flags.parquet", "images.parquet", "summary.json")))
    assert len(digests) == 1


def _single(tmp_path: Path, write_image, segmentation=None, width: int = W, height: int = H) -> pd.Series:
    """Flag one image with one faithful person; ``write_image(path, bgr)`` writes the file (or not)."""
    img, mask, polys = _scene(7)
    images = tmp_path / "images"
    curated = tmp_path / "curated"
    images.mkdir(parents=True, exist_ok=True)
    curated.mkdir(parents=True, exist_ok=True)
    write_image(images / "x.img", img)
    seg = segmentation if segmentation is not None else [polys["faithful"]]
    coco = _coco([{"id": 1, "file_name": "x.img", "width": width, "height": height}],
                 [{"id": 5, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": seg, "area": 1.0,
                   "bbox": [0, 0, 1, 1]}])
    (curated / "train.json").write_text(json.dumps(coco))
    out = tmp_path / "out"
    run_flag(curated, images, out, FlagParams(), workers=1)
    flags = pd.read_parquet(out / "flags.parquet")
    assert len(flags) == 1
    return flags.iloc[0]


def _pil(mode: str, fmt: str = "JPEG", exif_orientation: int | None = None, transpose: bool = False):
    def write(path: Path, bgr: np.ndarray) -> None:
        im = Image.fromarray(bgr[:, :, ::-1].copy())
        if transpose:
            im = im.transpose(Image.Transpose.ROTATE_90)  # stored rotated, EXIF says rotate back
        if mode == "L":
            im = im.convert("L")
        elif mode == "CMYK":
            im = im.convert("CMYK")
        elif mode == "RGBA":
            im = im.convert("RGBA")
            im.putalpha(128)
        kw = {}
        if exif_orientation is not None:
            ex = Image.Exif()
            ex[0x0112] = exif_orientation
            kw["exif"] = ex.tobytes()
        im.save(path, format=fmt, **kw)
    return write


def _no_signals(row) -> bool:
    return not row["image_ok"] and all(np.isnan(row[k]) for k in ("edge_alignment", "refine_iou", "refine_biou"))


def test_missing_image(tmp_path):
    curated, images, _ = make_curated(tmp_path, n=2)
    (images / "0000.jpg").unlink()  # one photo of two missing: its persons get no image signals
    run_flag(curated, images, tmp_path / "out", FlagParams(), workers=1)
    flags = pd.read_parquet(tmp_path / "out" / "flags.parquet")
    gone = flags[flags["image_id"] == 1]
    assert len(gone) == 2 and flags.loc[flags["image_id"] == 2, "image_ok"].all()
    for _, row in gone.iterrows():
        assert row["reasons"].split(";")[-1] == "image_missing" and _no_signals(row)
        assert np.isfinite(row["coarseness"])  # still scored from the polygon signals


def test_images_folder_without_any_of_the_photos_is_an_error(tmp_path):
    with pytest.raises(UserError, match=r"none of the 1 image files of .* is in this folder \(e.g. 'x.img'\)"):
        _single(tmp_path, lambda p, b: None)


def test_unreadable_and_truncated_images(tmp_path):
    row = _single(tmp_path / "a", lambda p, b: p.write_bytes(b"this is not an image"))
    assert any(r.startswith("image_unreadable:") for r in row["reasons"].split(";")) and _no_signals(row)

    def truncated(p: Path, b: np.ndarray) -> None:
        ok, buf = cv2.imencode(".jpg", b)
        p.write_bytes(buf.tobytes()[: len(buf) // 2])

    row = _single(tmp_path / "b", truncated)
    assert any(r.startswith("image_unreadable:") for r in row["reasons"].split(";")) and _no_signals(row)


def test_size_mismatch(tmp_path):
    row = _single(tmp_path, lambda p, b: cv2.imwrite(str(p.with_suffix(".png")), b) and p.with_suffix(".png").rename(p),
                  width=W + 10)
    assert f"image_size_mismatch:{W}x{H}!={W + 10}x{H}" in row["reasons"].split(";") and _no_signals(row)


@pytest.mark.parametrize(
    "writer,note",
    [
        (_pil("L"), "image_converted:L"),
        (_pil("CMYK"), "image_converted:CMYK"),
        (_pil("RGBA", fmt="PNG"), "image_alpha_composited"),
        (_pil("RGB", exif_orientation=6), "exif_orientation_ignored:6"),
        (_pil("RGB", exif_orientation=6, transpose=True), "exif_orientation_applied:6"),
    ],
    ids=["grayscale", "cmyk", "png-alpha", "exif-stored-frame", "exif-rotated-frame"],
)
def test_unusual_images_are_converted_scored_and_noted(tmp_path, writer, note):
    row = _single(tmp_path, writer)
    assert note in row["reasons"].split(";")
    assert row["image_ok"] and np.isfinite(row["edge_alignment"]) and np.isfinite(row["chord_rel"])
    assert not row["flagged"], row.to_dict()  # a faithful polygon stays unflagged after conversion


def test_degenerate_polygons(tmp_path):
    write = lambda p, b: cv2.imwrite(str(p.with_suffix(".png")), b) and p.with_suffix(".png").rename(p)
    # zero area: collinear points
    row = _single(tmp_path / "a", write, segmentation=[[10, 10, 50, 50, 90, 90, 130, 130]])
    assert "polygon_degenerate" in row["reasons"].split(";") and row["coarseness"] == 1.0 and row["flagged"]
    # self-intersecting bow-tie: repaired by shapely, scored, and says so
    bow = [60, 40, 260, 200, 260, 40, 60, 200]
    row = _single(tmp_path / "b", write, segmentation=[bow])
    assert any(r.startswith("polygon_repaired:") for r in row["reasons"].split(";"))
    assert row["area"] > 0 and np.isfinite(row["coarseness"])
    # a 2-point part beside a real part: dropped and said
    _, _, polys = _scene(7)
    row = _single(tmp_path / "c", write, segmentation=[polys["faithful"], [5, 5, 9, 9]])
    assert "polygon_part_dropped" in row["reasons"].split(";") and row["n_parts"] == 1 and not row["flagged"]
    # empty segmentation
    row = _single(tmp_path / "d", write, segmentation=[])
    assert "polygon_degenerate" in row["reasons"].split(";")


def test_bad_curated_folder_is_a_user_error(tmp_path):
    cur = tmp_path / "curated"  # --out beside it: an --out inside an input is refused first
    (cur / "images").mkdir(parents=True)
    with pytest.raises(UserError, match="no train.json"):
        run_flag(cur, cur / "images", tmp_path / "out", FlagParams())
    (cur / "train.json").write_text("{not json")
    with pytest.raises(UserError, match="malformed JSON"):
        run_flag(cur, cur / "images", tmp_path / "out", FlagParams())


def test_cli(tmp_path):
    from typer.testing import CliRunner

    from portraitkit.cli import app

    curated, images, _ = make_curated(tmp_path, n=3)
    res = CliRunner().invoke(app, ["flag", "--curated", str(curated), "--images", str(images),
                                   "--out", str(tmp_path / "o"), "--workers", "1", "--threshold", "0.4",
                                   "--params", str(Path(__file__).parents[1] / "params.yaml")])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["threshold"] == 0.4


def test_part_lying_on_the_image_border_is_scored(tmp_path):
    """A person part whose whole outline runs along the frame leaves no outline point to sample."""
    _, _, polys = _scene(7)
    strip = [0.0, 40.0, 2.0, 40.0, 2.0, 120.0, 0.0, 120.0]  # a sliver hugging the left border
    row = _single(tmp_path, lambda p, img: cv2.imwrite(str(p.with_suffix(".png")), img) and p.with_suffix(".png").rename(p),
                  segmentation=[polys["faithful"], strip])
    assert "internal_error" not in row["reasons"]
    assert np.isfinite(row["coarseness"])
