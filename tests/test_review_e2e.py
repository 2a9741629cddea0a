"""The review loop end to end on demo data: curate -> review build -> tag -> pull -> curate again."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from tests.review_fixtures import mongo_env  # noqa: F401 - fixture

pytestmark = pytest.mark.mongo


def _curate(demo, out, reviews=None):
    from portraitkit.curate.stage import run_curate
    from portraitkit.params import load_params

    params = load_params(None)  # built-in defaults, whatever params.yaml says
    run_curate(
        demo / "annotations" / "instances.json",
        out,
        params.curate,
        params.seed,
        keypoints=demo / "annotations" / "person_keypoints.json",
        reviews=reviews,
        images_dir=demo / "images",
        write_masks=True,
    )
    return pd.read_parquet(out / "manifest.parquet")


def test_decisions_flow_back_into_curate(mongo_env, tmp_path):
    from portraitkit.annotate.review.build import build
    from portraitkit.annotate.review.pull import pull
    from portraitkit.curate.demo import generate

    import fiftyone as fo

    demo = tmp_path / "demo"
    generate(demo, 40, 7)
    curated = tmp_path / "curated"
    m1 = _curate(demo, curated)
    kept1 = sorted(int(i) for i in m1.loc[m1.kept, "image_id"])
    assert len(kept1) >= 4

    build("rv-e2e", curated, demo / "images")
    ds = fo.load_dataset("rv-e2e")
    assert sorted(ds.values("image_id")) == kept1
    for s in ds:  # masks in FiftyOne are curate's masks, pixel for pixel
        want = cv2.imread(str(curated / "masks" / f"{s['image_id']}.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(s["segmentation"].get_mask(), want)
        h, w = want.shape
        union = np.zeros((h, w), bool)
        for det in s["persons"].detections:
            x0, y0 = round(det.bounding_box[0] * w), round(det.bounding_box[1] * h)
            mh, mw = det.mask.shape
            union[y0 : y0 + mh, x0 : x0 + mw] |= det.mask
        np.testing.assert_array_equal(union, want > 0)

    # annotators tag through the API what they would tag in the App
    rejected, accepted = kept1[:2], kept1[2]
    for s in ds.match(fo.ViewField("image_id").is_in(rejected + [accepted])):
        s.tags.append("reject" if s["image_id"] in rejected else "accept")
        if s["image_id"] == rejected[0]:
            s["note"] = "mask misses the left arm"
        s.save()
    decisions = tmp_path / "reviews" / "decisions.csv"
    pull("rv-e2e", decisions)
    assert decisions.read_text().splitlines() == [
        "image_id,decision,note",
        *sorted(
            [f"{rejected[0]},reject,mask misses the left arm", f"{rejected[1]},reject,", f"{accepted},accept,"],
            key=lambda line: int(line.split(",")[0]),
        ),
    ]

    m2 = _curate(demo, curated, reviews=decisions)
    kept2 = sorted(int(i) for i in m2.loc[m2.kept, "image_id"])
    assert kept2 == [i for i in kept1 if i not in rejected]
    gone = m2[m2.reason == "rejected_in_review"]
    assert sorted(int(i) for i in gone.image_id) == rejected

    # the next round: rebuild drops the rejected samples, the decisions survive a pull
    result = build("rv-e2e", curated, demo / "images")
    assert result.deleted == 2 and result.samples == len(kept2)
    before = decisions.read_text()
    pull("rv-e2e", decisions)
    assert decisions.read_text() == before
    m3 = _curate(demo, curated, reviews=decisions)
    assert m3.equals(m2)


def test_review_on_the_real_flag_and_clicks_outputs(mongo_env, tmp_path):
    """The build reads what the flag and clicks stages really write (not only the fixtures)."""
    from typer.testing import CliRunner

    from portraitkit.annotate.review.build import build
    from portraitkit.cli import app

    import fiftyone as fo

    commands = {c.name for c in app.registered_commands}
    if not {"flag", "clicks"} <= commands:
        pytest.skip("the flag and clicks stages are not mounted yet")
    from portraitkit.curate.demo import generate

    demo = tmp_path / "demo"
    generate(demo, 16, 7)
    curated = tmp_path / "curated"
    m = _curate(demo, curated)
    runner = CliRunner()
    for args in (["flag", "--curated", str(curated), "--images", str(demo / "images"), "--out", str(tmp_path / "flags")],
                 ["clicks", "--curated", str(curated), "--out", str(tmp_path / "clicks")]):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, (args[0], res.output, res.exception)
    build("rv-pipe", curated, demo / "images", tmp_path / "flags", tmp_path / "clicks")
    ds = fo.load_dataset("rv-pipe")
    assert len(ds) == int(m.kept.sum())
    flags = pd.read_parquet(tmp_path / "flags" / "flags.parquet")
    clicks = pd.read_parquet(tmp_path / "clicks" / "clicks.parquet")
    assert sorted(ds.match_tags("flagged").values("image_id")) == sorted(
        int(i) for i in flags.loc[flags.flagged, "image_id"].unique() if int(i) in set(ds.values("image_id"))
    )
    n_pos = sum(len(p) for p in clicks.positives)
    got = ds.values("clicks.keypoints", unwind=True)
    assert sum(len(k.points) for k in got if k.label == "positive") == n_pos
    for det in ds.values("persons.detections", unwind=True):
        if det["flagged"]:
            assert det["flag_reasons"] and all(";" not in r for r in det["flag_reasons"])
