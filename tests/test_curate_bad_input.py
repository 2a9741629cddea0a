"""Bad input: whole-file errors name file, record and field; per-image problems quarantine."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from portraitkit.curate.stage import run_curate
from portraitkit.errors import UserError
from portraitkit.params import CurateParams
from tests.coco_factory import CocoBuilder, rect_rle


def good_builder() -> CocoBuilder:
    b = CocoBuilder()
    for iid in (1, 2):
        b.image(iid)
        b.ann(iid, rect_rle(100, 100, 0, 0, 50, 50))
    return b


def run(tmp_path, data):
    path = tmp_path / "instances.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return run_curate(path, tmp_path / "out", CurateParams(), seed=1)


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d.pop("annotations"), "missing top-level key 'annotations'"),
        (lambda d: d.update(images={}), "'images': expected a list"),
        (lambda d: d["images"].append(dict(d["images"][0])), "images[2]: field 'id': duplicate image id 1"),
        (lambda d: d["annotations"].append(dict(d["annotations"][0])), "annotations[2]: field 'id': duplicate annotation id 1"),
        (lambda d: d["annotations"][1].update(image_id=77), "annotations[1] (id 2): field 'image_id': unknown image 77"),
        (lambda d: d["annotations"][0].update(image_id="1"), "annotations[0] (id 1): field 'image_id' must be an integer"),
        (lambda d: d["images"][0].pop("id"), "images[0]: missing field 'id'"),
        (lambda d: d["categories"].append(dict(d["categories"][0])), "categories[4]: field 'id': duplicate category id 1"),
    ],
)
def test_whole_file_errors_name_file_record_field(tmp_path, mutate, expected):
    data = good_builder().data()
    mutate(data)
    with pytest.raises(UserError) as err:
        run(tmp_path, data)
    assert "instances.json" in str(err.value)
    assert expected in str(err.value)
    assert not (tmp_path / "out").exists()


def test_malformed_json(tmp_path):
    with pytest.raises(UserError, match=r"instances.json: malformed JSON"):
        run(tmp_path, '{"images": [')


@pytest.mark.parametrize(
    "mutate, problem",
    [
        (lambda d: d["annotations"][0].update(segmentation=[[1, 1, 5, 5]]), "fewer than 3 points"),
        (lambda d: d["annotations"][0].update(segmentation=[[1, 1, 5, 5, 9]]), "odd number of coordinates"),
        (lambda d: d["annotations"][0].update(segmentation=[[1, 1, "a", 5, 9, 9]]), "coordinates must be numbers"),
        (lambda d: d["annotations"][0]["segmentation"].update(size=[50, 50]), "disagrees with image size [100, 100]"),
        (lambda d: d["annotations"][0].update(category_id=999), "unknown category 999"),
        (lambda d: d["annotations"][0].pop("segmentation"), "missing field 'segmentation'"),
        (lambda d: d["images"][0].update(file_name="../../etc/passwd"), "escapes the images folder"),
        (lambda d: d["images"][0].update(file_name="/abs/x.jpg"), "escapes the images folder"),
        (lambda d: d["images"][0].update(width=0), "field 'width' must be a positive integer"),
    ],
)
def test_per_image_problems_quarantine_only_that_image(tmp_path, mutate, problem):
    data = good_builder().data()
    mutate(data)
    m = run(tmp_path, data).manifest.set_index("image_id")
    assert m.loc[1, "reason"] == "invalid"
    assert not m.loc[1, "kept"]
    assert any(problem in p for p in m.loc[1, "problems"]), list(m.loc[1, "problems"])
    assert m.loc[2, "kept"]


def test_missing_image_file_is_quarantined(tmp_path):
    b = good_builder()
    images = tmp_path / "images"
    images.mkdir()
    (images / "000000000002.jpg").write_bytes(b"x")
    result = run_curate(b.write(tmp_path / "i.json"), tmp_path / "out", CurateParams(), seed=1, images_dir=images)
    m = result.manifest.set_index("image_id")
    assert m.loc[1, "reason"] == "invalid"
    assert "not found" in m.loc[1, "problems"][0]
    assert m.loc[2, "kept"]


@pytest.mark.parametrize(
    "content, expected",
    [
        ("id,decision\n", "line 1: expected the header image_id,decision,note"),
        ("image_id,decision,note\nabc,reject,\n", "line 2: field 'image_id': not an integer"),
        ("image_id,decision,note\n1,maybe,\n", "line 2: field 'decision': expected accept or reject"),
        ("image_id,decision,note\n1,reject,\n1,accept,\n", "line 3: field 'image_id': duplicate decision"),
    ],
)
def test_bad_reviews_csv(tmp_path, content, expected):
    reviews = tmp_path / "decisions.csv"
    reviews.write_text(content)
    with pytest.raises(UserError, match="decisions.csv") as err:
        run_curate(good_builder().write(tmp_path / "i.json"), tmp_path / "out", CurateParams(), seed=1, reviews=reviews)
    assert expected in str(err.value)


def test_previous_output_survives_a_failed_run(tmp_path):
    b = good_builder()
    path = b.write(tmp_path / "i.json")
    run_curate(path, tmp_path / "out", CurateParams(), seed=1)
    before = (tmp_path / "out" / "manifest.parquet").read_bytes()
    path.write_text("{broken")
    with pytest.raises(UserError):
        run_curate(path, tmp_path / "out", CurateParams(), seed=1)
    assert (tmp_path / "out" / "manifest.parquet").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["i.json", "out"]


def test_cli_user_error_is_one_line_without_traceback(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    proc = subprocess.run(
        [sys.executable, "-m", "portraitkit.cli", "curate", "--annotations", str(bad), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    # every command first names the params it used (one line), then the one-line error
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("params: ")]
    assert len(lines) == 1 and lines[0].startswith("error:") and "bad.json: malformed JSON" in lines[0]


# --- Geometry validated before pycocotools (issue 11): each record below crashed, hung, gave a
# traceback or silent wrong data on the code of 517d676. One real `portraitkit curate` process
# runs them all, with a timeout, so a hang or a segfault fails the test instead of stalling it.

def _compressed(h: int, w: int) -> str:
    import numpy as np
    from pycocotools import mask as mask_utils

    m = np.zeros((h, w), np.uint8)
    m[10:60, 10:60] = 1
    return mask_utils.encode(np.asfortranarray(m))["counts"].decode()


BAD_RECORDS = {
    "coordinates of 1e8": ({"segmentation": [[1e8, 1, 5, 5, 9, 9e8]]}, {}, "more than one image size outside"),
    "50000 x 40000 px": ({}, {"width": 50000, "height": 40000}, "exceeds the limit of 32768 px"),
    "RLE garbage": ({"segmentation": {"size": [100, 100], "counts": "garbage!!zz"}}, {}, "outside COCO's RLE alphabet"),
    "RLE too short": ({"segmentation": {"size": [100, 100], "counts": _compressed(100, 100)[:-3]}}, {}, "not height*width=10000"),
    "RLE too long": ({"segmentation": {"size": [100, 100], "counts": _compressed(100, 100) + "PP3"}}, {}, "not height*width=10000"),
    "RLE non-ASCII": ({"segmentation": {"size": [100, 100], "counts": "é" + _compressed(100, 100)}}, {}, "non-ASCII"),
    "RLE truncated value": ({"segmentation": {"size": [100, 100], "counts": "P"}}, {}, "truncated"),
    "width true": ({}, {"width": True}, "field 'width' must be a positive integer, got True"),
    "file name of 5000 chars": ({}, {"file_name": "a" * 5000 + ".jpg"}, "5004 characters long"),
    "depth-3 polygon": ({"segmentation": [[[10, 10], [60, 10], [60, 90]]]}, {}, "depth 2"),
    "negative image id": ({}, {"id": -5}, "field 'id' must be >= 0"),
}


def test_bad_geometry_quarantines_its_image_in_a_real_process(tmp_path):
    import pandas as pd

    b = CocoBuilder()
    b.image(1)
    b.ann(1, rect_rle(100, 100, 0, 0, 50, 50))
    expected = {}
    for k, (name, (ann_change, img_change, problem)) in enumerate(BAD_RECORDS.items()):
        iid = 10 + k
        b.image(iid)
        # two persons per image: pycocotools' merge is where broken RLE strings looped forever
        first = b.ann(iid, rect_rle(100, 100, 0, 0, 40, 40))
        b.ann(iid, rect_rle(100, 100, 50, 50, 90, 90))
        b.annotations[-2 if first else -2].update(ann_change)
        if img_change:
            new_id = img_change.get("id", iid)
            b.images[-1].update(img_change)
            for a in b.annotations[-2:]:
                a["image_id"] = new_id
            iid = new_id
        expected[iid] = (name, problem)
    path = b.write(tmp_path / "instances.json")
    proc = subprocess.run(
        [sys.executable, "-m", "portraitkit", "curate", "--annotations", str(path), "--out", str(tmp_path / "out"),
         "--masks"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    m = pd.read_parquet(tmp_path / "out" / "manifest.parquet").set_index("image_id")
    assert m.loc[1, "kept"]
    for iid, (name, problem) in expected.items():
        assert m.loc[iid, "reason"] == "invalid", name
        assert any(problem in p for p in m.loc[iid, "problems"]), (name, list(m.loc[iid, "problems"]))


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d.update(categories=[c for c in d["categories"] if c["id"] != 1]),
         "no category with id 1 (curate.person_category_id); the file has 18 'dog', 43 'tennis racket', 62 'chair'"),
        (lambda d: d["images"][0].update(id=2**64 - 1), "images[0]: field 'id' 18446744073709551615 is outside"),
    ],
)
def test_file_level_mistakes_are_one_line_errors(tmp_path, mutate, expected):
    data = good_builder().data()
    mutate(data)
    with pytest.raises(UserError) as err:
        run(tmp_path, data)
    assert expected in str(err.value)


def test_images_folder_without_any_of_the_files_is_an_error(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "other.jpg").write_bytes(b"x")
    with pytest.raises(UserError, match=r"none of the 2 image file names .* wrong --images folder"):
        run_curate(good_builder().write(tmp_path / "i.json"), tmp_path / "out", CurateParams(), seed=1,
                   images_dir=tmp_path / "images")


def test_keypoints_of_another_dataset_is_an_error(tmp_path):
    b = good_builder()
    other = CocoBuilder()
    other.image(500)
    other.ann(500, rect_rle(100, 100, 0, 0, 50, 50), id=900)
    kp = other.write_keypoints(tmp_path / "kp.json", {})
    with pytest.raises(UserError, match=r"kp.json: none of its 1 person annotation ids"):
        run_curate(b.write(tmp_path / "i.json"), tmp_path / "out", CurateParams(), seed=1, keypoints=kp)


def test_held_object_names_matching_no_category_warn(tmp_path):
    params = CurateParams(held_object_categories=["Dog", "tennis racket"])
    result = run_curate(good_builder().write(tmp_path / "i.json"), tmp_path / "out", params, seed=1)
    assert len(result.warnings) == 1
    assert "'Dog' match no category name" in result.warnings[0] and "dog, person" in result.warnings[0]
