"""Review in FiftyOne against a real mongod: build, views, idempotent rebuild, pull, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from portraitkit.curate.masks import ann_to_mask
from portraitkit.errors import UserError
from tests.review_fixtures import make_tiny_data, mongo_env, run_cli  # noqa: F401 - fixtures

pytestmark = pytest.mark.mongo


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_data(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def built(mongo_env, tiny, tmp_path_factory):
    from portraitkit.annotate.review.build import build

    receipt = tmp_path_factory.mktemp("receipt") / "receipt.json"
    result = build("rv-main", tiny.curated, tiny.images, tiny.flags, tiny.clicks, receipt=receipt)
    import fiftyone as fo

    return fo.load_dataset("rv-main"), result, receipt


def _paste(det, height, width):
    """A Detection's cropped mask back on the full image."""
    x, y, w, h = det.bounding_box
    x0, y0 = round(x * width), round(y * height)
    full = np.zeros((height, width), bool)
    mh, mw = det.mask.shape
    assert (mw, mh) == (round(w * width), round(h * height))
    full[y0 : y0 + mh, x0 : x0 + mw] = det.mask
    return full


def _coco_by_ann(curated: Path) -> dict[int, dict]:
    anns = {}
    for name in ("train.json", "val.json", "test.json"):
        for a in json.loads((curated / name).read_text())["annotations"]:
            anns[a["id"]] = a
    return anns


def test_samples_and_fields(built, tiny):
    ds, result, _ = built
    assert len(ds) == len(tiny.kept_ids) == result.samples
    assert sorted(ds.values("image_id")) == tiny.kept_ids
    schema = ds.get_field_schema()
    for field in ("split", "coverage", "n_persons", "overlapping_categories", "body_part_flag",
                  "held_object_flag", "persons", "segmentation", "clicks", "note", "max_coarseness"):
        assert field in schema, field
    manifest = pd.read_parquet(tiny.curated / "manifest.parquet").set_index("image_id")
    for s in ds:
        row = manifest.loc[s["image_id"]]
        assert s["split"] == row["split"]
        assert s["coverage"] == pytest.approx(row["coverage"])
        assert s["n_persons"] == row["n_persons"] == len(s["persons"].detections)
        assert Path(s.filepath) == (tiny.images / row["file_name"]).resolve()
    assert ds.match({"image_id": 102}).first()["overlapping_categories"] == ["dog"]
    assert ds.persistent
    assert ds.mask_targets["segmentation"] == {255: "person"}


def test_masks_pixel_equal(built, tiny):
    ds, _, _ = built
    anns = _coco_by_ann(tiny.curated)
    for s in ds:
        h, w = s.metadata.height, s.metadata.width
        curated = cv2.imread(str(tiny.curated / "masks" / f"{s['image_id']}.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(s["segmentation"].get_mask(), curated)
        union = np.zeros((h, w), bool)
        for det in s["persons"].detections:
            full = _paste(det, h, w)
            np.testing.assert_array_equal(full, ann_to_mask(anns[det["annotation_id"]], h, w).astype(bool))
            union |= full
        np.testing.assert_array_equal(union.astype(np.uint8) * 255, curated)


def test_flags_and_tags(built, tiny):
    ds, _, _ = built
    flags = pd.read_parquet(tiny.flags / "flags.parquet").set_index("annotation_id")
    assert sorted(ds.match_tags("flagged").values("image_id")) == tiny.flagged_ids
    assert ds.match_tags("body_part").values("image_id") == [103]
    assert ds.match_tags("held_object").values("image_id") == [102]
    for s in ds:
        for det in s["persons"].detections:
            row = flags.loc[det["annotation_id"]]
            assert det["coarseness"] == pytest.approx(row["coarseness"])
            assert det["flagged"] == bool(row["flagged"])
            assert ("flagged" in det.tags) == bool(row["flagged"])


def test_clicks_as_keypoints(built, tiny):
    ds, _, _ = built
    clicks = pd.read_parquet(tiny.clicks / "clicks.parquet")
    for s in ds:
        h, w = s.metadata.height, s.metadata.width
        got = {"positive": [], "negative": []}
        for kp in s["clicks"].keypoints:
            got[kp.label].extend((round(x * w), round(y * h)) for x, y in kp.points)
        rows = clicks[clicks.image_id == s["image_id"]]
        want_pos = [tuple(p) for ps in rows.positives for p in ps]
        want_neg = [tuple(p) for ps in rows.negatives for p in ps]
        assert sorted(got["positive"]) == sorted(want_pos)
        assert sorted(got["negative"]) == sorted(want_neg)
        assert want_pos and set(got) == {"positive", "negative"}


def test_saved_views(built, tiny):
    ds, _, _ = built
    names = set(ds.list_saved_views())
    assert {"coarse-first", "body-parts", "held-objects", "split-train", "split-val", "split-test"} <= names
    coarse = ds.load_saved_view("coarse-first").values("max_coarseness")
    assert coarse == sorted(coarse, reverse=True) and len(coarse) == len(ds)
    assert ds.load_saved_view("body-parts").values("image_id") == [103]
    assert ds.load_saved_view("held-objects").values("image_id") == [102]
    for split in ("train", "val", "test"):
        v = ds.load_saved_view(f"split-{split}")
        assert set(v.values("split")) == {split}
        assert len(v) == len(ds.match({"split": split}))


def test_rebuild_is_idempotent_and_keeps_decisions(mongo_env, tiny, tmp_path):
    from portraitkit.annotate.review.build import build

    import fiftyone as fo

    r1 = tmp_path / "r1.json"
    build("rv-idem", tiny.curated, tiny.images, tiny.flags, tiny.clicks, receipt=r1)
    ds = fo.load_dataset("rv-idem")
    ids = dict(zip(ds.values("image_id"), ds.values("id")))
    s = ds.match({"image_id": 101}).first()
    s.tags.append("reject")
    s["note"] = "hand cut off"
    s.save()
    r2 = tmp_path / "r2.json"
    result = build("rv-idem", tiny.curated, tiny.images, tiny.flags, tiny.clicks, receipt=r2)
    assert (result.added, result.deleted, result.updated) == (0, 0, len(ids))
    ds.reload()
    assert dict(zip(ds.values("image_id"), ds.values("id"))) == ids
    s = ds.match({"image_id": 101}).first()
    assert "reject" in s.tags and s["note"] == "hand cut off"
    assert r1.read_bytes() == r2.read_bytes()
    assert ds.match_tags("flagged").values("image_id") == tiny.flagged_ids


def test_rebuild_follows_curated_and_attaches_predictions(mongo_env, tiny, tmp_path):
    from portraitkit.annotate.review.build import build

    import fiftyone as fo

    data = make_tiny_data(tmp_path / "d")
    build("rv-change", data.curated, data.images)
    # the curated set loses image 101 and gains nothing: the sample goes, the others stay
    m = pd.read_parquet(data.curated / "manifest.parquet")
    m.loc[m.image_id == 101, "kept"] = False
    m.to_parquet(data.curated / "manifest.parquet", index=False)
    preds = tmp_path / "preds"
    preds.mkdir()
    for iid in data.kept_ids[1:3]:
        mask = np.zeros((120, 160), np.uint8)
        mask[10:50, 20:90] = 1  # 0/1 masks are accepted and stored as 0/255
        cv2.imwrite(str(preds / f"{iid}.png"), mask)
    result = build("rv-change", data.curated, data.images, predictions=preds)
    assert (result.added, result.deleted) == (0, 1)
    ds = fo.load_dataset("rv-change")
    assert sorted(ds.values("image_id")) == data.kept_ids[1:]
    s = ds.match({"image_id": data.kept_ids[1]}).first()
    assert s["predictions"].get_mask()[10:50, 20:90].min() == 255
    assert s["predictions"].get_mask().sum() == 40 * 70 * 255
    assert ds.match({"image_id": data.kept_ids[3]}).first()["predictions"] is None
    # a later build without --predictions leaves them as they are
    build("rv-change", data.curated, data.images)
    ds.reload()
    assert ds.match({"image_id": data.kept_ids[1]}).first()["predictions"] is not None


def test_pull_writes_sorted_decisions_and_carries_over(mongo_env, tiny, tmp_path):
    from portraitkit.annotate.review.build import build
    from portraitkit.annotate.review.pull import pull

    import fiftyone as fo

    build("rv-pull", tiny.curated, tiny.images)
    ds = fo.load_dataset("rv-pull")
    for iid, tag, note in ((104, "reject", "coarse, mask misses the arm"), (101, "accept", None),
                           (102, "reject", "two\nlines")):
        s = ds.match({"image_id": iid}).first()
        s.tags.append(tag)
        s["note"] = note
        s.save()
    out = tmp_path / "reviews" / "decisions.csv"
    out.parent.mkdir()
    out.write_text("image_id,decision,note\n9,reject,from an earlier round\n104,accept,\n")
    result = pull("rv-pull", out)
    assert out.read_text() == (
        "image_id,decision,note\n"
        "9,reject,from an earlier round\n"
        "101,accept,\n"
        "102,reject,two lines\n"
        '104,reject,"coarse, mask misses the arm"\n'
    )
    assert (result.rows, result.carried_over, result.reject, result.accept) == (4, 1, 3, 1)
    from portraitkit.curate.reviews import read_decisions

    assert read_decisions(out) == {9: "reject", 101: "accept", 102: "reject", 104: "reject"}
    before = out.stat().st_mtime_ns
    pull("rv-pull", out)
    assert out.stat().st_mtime_ns == before  # unchanged file is not rewritten
    pull("rv-pull", out, merge=False)
    assert "9,reject" not in out.read_text()
    s = ds.match({"image_id": 101}).first()
    s.tags.append("reject")
    s.save()
    with pytest.raises(UserError, match="tagged both reject and accept"):
        pull("rv-pull", out)


def test_build_seeds_decisions_into_a_fresh_dataset(mongo_env, tiny, tmp_path):
    from portraitkit.annotate.review.build import build

    import fiftyone as fo

    csv_path = tmp_path / "decisions.csv"
    csv_path.write_text("image_id,decision,note\n102,accept,fine\n999,reject,\n")
    build("rv-seed", tiny.curated, tiny.images, decisions=csv_path)
    ds = fo.load_dataset("rv-seed")
    s = ds.match({"image_id": 102}).first()
    assert "accept" in s.tags and s["note"] == "fine"
    assert len(ds.match_tags(["accept", "reject"])) == 1


def test_build_errors_before_touching_the_database(mongo_env, tiny, tmp_path):
    from portraitkit.annotate.review.build import build

    import fiftyone as fo

    with pytest.raises(UserError, match="kept images not found"):
        build("rv-err", tiny.curated, tmp_path)
    with pytest.raises(UserError, match="curated folder not found"):
        build("rv-err", tmp_path / "nope", tiny.images)
    assert not fo.dataset_exists("rv-err")


# ---------------------------------------------------------------- the CLI, in child processes


def _one_line_error(proc) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_cli_build_receipt_and_pull(mongo_env, tiny, tmp_path):
    receipt = tmp_path / "review" / "receipt.json"
    proc = run_cli(["review", "build", "--curated", str(tiny.curated), "--images", str(tiny.images),
                    "--flags", str(tiny.flags), "--clicks", str(tiny.clicks), "--name", "rv-cli",
                    "--receipt", str(receipt)])
    assert proc.returncode == 0, proc.stderr
    data = json.loads(receipt.read_text())
    assert data["dataset"] == "rv-cli" and data["samples"] == len(tiny.kept_ids)
    assert {"persons", "segmentation", "clicks", "note"} <= set(data["fields"])
    assert set(data["inputs"]) >= {"curated", "images", "flags", "clicks"}
    out = tmp_path / "decisions.csv"
    proc = run_cli(["review", "pull", "--name", "rv-cli", "--out", str(out)])
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == "image_id,decision,note\n"


def test_cli_unknown_dataset(mongo_env, tmp_path):
    line = _one_line_error(run_cli(["review", "pull", "--name", "no-such-set", "--out", str(tmp_path / "d.csv")]))
    assert "no FiftyOne dataset named 'no-such-set'" in line and "review build" in line
    from portraitkit.annotate.review.app import launch

    with pytest.raises(UserError, match="no FiftyOne dataset named 'no-such-set'"):
        launch("no-such-set", 5151, "127.0.0.1", echo=print)


def test_cli_database_unreachable(mongo_env, tmp_path):
    from tests.review_fixtures import free_port

    uri = f"mongodb://127.0.0.1:{free_port()}"
    line = _one_line_error(run_cli(["review", "pull", "--out", str(tmp_path / "d.csv")],
                                   {"FIFTYONE_DATABASE_URI": uri}, timeout=120))
    assert "cannot be reached" in line and uri in line


@pytest.fixture
def own_database_service(tmp_path_factory):
    """Held by each test that lets FiftyOne start its own database service. FiftyOne attaches to any
    running service of this machine (``--51-service db --multi``), whatever its database_dir, so two
    such tests on two xdist workers at once would share one: a lock file beside the workers' temp
    folders makes them take turns."""
    import fcntl

    lock = tmp_path_factory.getbasetemp().parent / "fiftyone-own-database.lock"
    with lock.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield
        fcntl.flock(fh, fcntl.LOCK_UN)


def test_cli_database_cannot_start(mongo_env, own_database_service, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where FiftyOne's database_dir should be")
    proc = run_cli(["review", "pull", "--out", str(tmp_path / "d.csv")],
                   # FIFTYONE_PRIVATE_DATABASE_PORT: a FiftyOne that started its own mongod passes the port on to its
                   # children, which then connect there instead of starting theirs: never inherit it here
                   {"FIFTYONE_DATABASE_URI": None, "FIFTYONE_PRIVATE_DATABASE_PORT": None,
                    "FIFTYONE_DATABASE_DIR": str(blocker / "mongo")}, timeout=180)
    line = _one_line_error(proc)
    assert "FiftyOne's own MongoDB did not start" in line


def test_cli_images_moved_since_build(mongo_env, tmp_path):
    from portraitkit.annotate.review.build import build

    import fiftyone as fo

    data = make_tiny_data(tmp_path / "d", n_images=3)
    build("rv-moved", data.curated, data.images)
    shutil.move(data.images, tmp_path / "elsewhere")
    line = _one_line_error(run_cli(["review", "app", "--name", "rv-moved", "--port", "1"]))
    assert "2 of 2 images moved since the build" in line and "review build --images" in line
    with pytest.raises(UserError, match="images folder not found"):
        build("rv-moved", data.curated, data.images)
    # rebuilding with the new folder repoints the samples
    build("rv-moved", data.curated, tmp_path / "elsewhere")
    ds = fo.load_dataset("rv-moved")
    assert all(Path(p).is_file() for p in ds.values("filepath"))
    from portraitkit.annotate.review.app import check_media

    check_media(ds)
    from portraitkit.annotate.review.app import launch

    with pytest.raises(UserError, match="no saved view 'nope'.*coarse-first"):
        launch("rv-moved", 5151, "127.0.0.1", echo=print, view="nope")


def test_help_is_fast_and_lists_commands():
    proc = run_cli(["review", "--help"])
    assert proc.returncode == 0
    for cmd in ("build", "app", "pull"):
        assert cmd in proc.stdout
    import subprocess
    import sys

    code = "import sys, portraitkit.cli; print('fiftyone' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_cli_fiftyone_own_database(mongo_env, own_database_service, tiny, tmp_path):
    """Without database_uri, FiftyOne starts the wheel's mongod itself, and stops it afterwards."""
    import psutil

    dbdir = tmp_path / "own-db"
    env = {"FIFTYONE_DATABASE_URI": None, "FIFTYONE_DATABASE_DIR": str(dbdir)}
    proc = run_cli(["review", "build", "--curated", str(tiny.curated), "--images", str(tiny.images),
                    "--name", "rv-own"], env, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert "FiftyOne's own MongoDB" in proc.stderr and str(dbdir) in proc.stderr
    assert (dbdir / "log" / "mongo.log").is_file() and any(dbdir.glob("*.wt"))
    proc = run_cli(["review", "pull", "--name", "rv-own", "--out", str(tmp_path / "d.csv")], env, timeout=240)
    assert proc.returncode == 0, proc.stderr

    def own_mongods():
        found = []
        for p in psutil.process_iter(["pid", "cmdline"]):
            cmd = p.info.get("cmdline") or []
            if cmd and cmd[0].endswith("mongod") and str(dbdir) in cmd:
                found.append(p)
        return found

    import time

    deadline = time.monotonic() + 60
    while own_mongods() and time.monotonic() < deadline:
        time.sleep(0.5)
    left = own_mongods()
    for p in left:  # started (indirectly) by this test: never leave it running
        p.kill()
    assert not left, "FiftyOne's mongod kept running after its last client exited"


def test_rebuild_keeps_label_ids_and_annotator_label_tags(mongo_env, tiny):
    from portraitkit.annotate.review.build import build

    import fiftyone as fo

    build("rv-labels", tiny.curated, tiny.images, tiny.flags, tiny.clicks)
    ds = fo.load_dataset("rv-labels")
    before = sorted(ds.values("persons.detections.id", unwind=True)) + sorted(ds.values("clicks.keypoints.id", unwind=True))
    s = ds.match({"image_id": 104}).first()
    s["persons"].detections[0].tags.append("bad_mask")
    s.save()
    build("rv-labels", tiny.curated, tiny.images, tiny.flags, tiny.clicks)
    ds.reload()
    after = sorted(ds.values("persons.detections.id", unwind=True)) + sorted(ds.values("clicks.keypoints.id", unwind=True))
    assert after == before
    tags = ds.match({"image_id": 104}).first()["persons"].detections[0].tags
    assert "bad_mask" in tags and "flagged" in tags
