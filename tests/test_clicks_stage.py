"""The ``clicks`` stage and its command: outputs, determinism, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from portraitkit.annotate.clicks.decode import decode_cropped
from portraitkit.annotate.clicks.stage import COLUMNS, read_clicks, run_clicks
from portraitkit.annotate.clicks.synthetic import make_curated
from portraitkit.curate.masks import ann_to_mask
from portraitkit.cli import app
from portraitkit.io import sha256_file
from portraitkit.params import ClicksParams


@pytest.fixture(scope="module")
def curated(tmp_path_factory) -> Path:
    return make_curated(tmp_path_factory.mktemp("cur") / "curated", n_images=12, seed=5, images=False)


def _coco(curated: Path) -> dict[str, dict]:
    return {s: json.loads((curated / f"{s}.json").read_text()) for s in ("train", "val", "test")}


def test_stage_writes_one_row_per_instance_strategy_and_set(curated, tmp_path):
    p = ClicksParams(sets_per_strategy=2)
    summary = run_clicks(curated, tmp_path / "clicks", p, seed=9, show_progress=False)
    df = read_clicks(tmp_path / "clicks")
    assert list(df.columns) == COLUMNS
    coco = _coco(curated)
    persons = {
        a["id"]: (s, a) for s, c in coco.items() for a in c["annotations"] if a["category_id"] == 1
    }
    assert set(df["annotation_id"]) == set(persons)
    assert len(df) == len(persons) * 4 * 2
    assert summary["instances"] == len(persons) and summary["sets"] == len(df)
    for r in df.itertuples():
        split, ann = persons[r.annotation_id]
        assert r.split == split and r.image_id == ann["image_id"]
        img = next(i for i in coco[split]["images"] if i["id"] == r.image_id)
        mask = ann_to_mask(ann, img["height"], img["width"])
        pos, neg = r.positives, r.negatives
        assert pos.shape[1] == 2 and neg.shape[1] == 2
        assert (mask[pos[:, 1], pos[:, 0]] == 1).all()  # [x, y] in the original image
        assert (mask[neg[:, 1], neg[:, 0]] == 0).all()
        assert r.shortfall == r.n_pos_requested + r.n_neg_requested - len(pos) - len(neg)
    assert (df.groupby(["annotation_id", "strategy"]).size() == 2).all()
    saved = json.loads((tmp_path / "clicks" / "summary.json").read_text())
    assert saved["strategies"]["xu_pos_neg1"]["sets"] == len(persons) * 2
    assert set(saved["instances_per_split"]) == {"train", "val", "test"}
    assert "instances_with_too_few_valid_points" in saved
    n_others = {a["image_id"]: 0 for c in coco.values() for a in c["annotations"]}
    for c in coco.values():
        for a in c["annotations"]:
            n_others[a["image_id"]] += 1
    assert (df["n_other_objects"] == df["image_id"].map(n_others) - 1).all()
    s2 = df[df["strategy"] == "xu_pos_neg2"]
    assert (s2.loc[s2["n_other_objects"] == 0, "negatives"].map(len) == 0).all()


def test_stage_output_is_byte_identical_for_any_worker_count(curated, tmp_path):
    run_clicks(curated, tmp_path / "a", ClicksParams(workers=1), seed=3, show_progress=False)
    run_clicks(curated, tmp_path / "b", ClicksParams(workers=2), seed=3, show_progress=False)
    run_clicks(curated, tmp_path / "a", ClicksParams(workers=1), seed=3, show_progress=False)  # rerun over
    for f in ("clicks.parquet", "summary.json"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert len(pd.read_parquet(tmp_path / "a" / "clicks.parquet")) > 0  # identical, and not identically empty
    run_clicks(curated, tmp_path / "c", ClicksParams(workers=1), seed=4, show_progress=False)
    assert sha256_file(tmp_path / "a" / "clicks.parquet") != sha256_file(tmp_path / "c" / "clicks.parquet")
    assert not list(tmp_path.glob(".*"))  # no temporary leftovers


def test_empty_click_lists_keep_their_type(curated, tmp_path):
    p = ClicksParams(strategies=["xu_pos_neg2"], n_neg2=(0, 0), sets_per_strategy=1)
    run_clicks(curated, tmp_path / "o", p, seed=1, show_progress=False)
    import pyarrow.parquet as pq

    schema = pq.read_schema(tmp_path / "o" / "clicks.parquet")
    assert str(schema.field("negatives").type) == "list<element: list<element: int32>>"


def test_cli_clicks(curated, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("seed: 5\nclicks:\n  sets_per_strategy: 1\n  strategies: [xu_pos_neg1, multipoint]\n")
    res = CliRunner().invoke(
        app, ["clicks", "--curated", str(curated), "--out", str(tmp_path / "out"), "--params", str(params), "--sets", "2"]
    )
    assert res.exit_code == 0, res.output
    df = pd.read_parquet(tmp_path / "out" / "clicks.parquet")
    assert set(df["strategy"]) == {"xu_pos_neg1", "multipoint"} and set(df["set_index"]) == {0, 1}
    res = CliRunner().invoke(
        app, ["clicks", "--curated", str(curated), "--out", str(tmp_path / "o2"), "--params", str(params),
              "--strategies", "xu_pos_neg3"]
    )
    assert res.exit_code == 0, res.output
    assert set(pd.read_parquet(tmp_path / "o2" / "clicks.parquet")["strategy"]) == {"xu_pos_neg3"}


def _run_main(args, monkeypatch, capsys):
    from portraitkit import cli

    monkeypatch.setattr("sys.argv", ["portraitkit", *args])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    return exc.value.code, capsys.readouterr().err


def test_user_errors_are_one_line(curated, tmp_path, monkeypatch, capsys):
    code, err = _run_main(["clicks", "--curated", str(tmp_path / "missing"), "--out", str(tmp_path / "o")],
                          monkeypatch, capsys)
    assert code == 2 and "curated directory not found" in err and "Traceback" not in err
    bad = tmp_path / "bad"
    bad.mkdir()
    for s in ("train", "val", "test"):
        (bad / f"{s}.json").write_text((curated / f"{s}.json").read_text())
    data = json.loads((bad / "val.json").read_text())
    data["annotations"][0]["segmentation"] = {"size": [3, 3], "counts": "garbage!"}
    (bad / "val.json").write_text(json.dumps(data))
    code, err = _run_main(["clicks", "--curated", str(bad), "--out", str(tmp_path / "o"), "--workers", "1"],
                          monkeypatch, capsys)
    assert code == 2 and "val.json" in err and f"annotation {data['annotations'][0]['id']}" in err
    params = tmp_path / "p.yaml"
    params.write_text("clicks:\n  n_pos: [3, 1]\n")
    code, err = _run_main(["clicks", "--curated", str(curated), "--out", str(tmp_path / "o"), "--params", str(params)],
                          monkeypatch, capsys)
    assert code == 2 and "clicks.n_pos" in err
    code, err = _run_main(["clicks", "--curated", str(curated), "--out", str(tmp_path / "o"), "--strategies", "xu9"],
                          monkeypatch, capsys)
    # a typed choice: the option the user typed, the bad value and the valid names
    assert code == 2 and "--strategies" in err and "xu9" in err and "multipoint" in err
    data["annotations"][0]["segmentation"] = {"size": [3, 3], "counts": [9]}
    (bad / "val.json").write_text(json.dumps(data))
    # caught by the validation curate shares (curate/validate.py) before any worker starts: one line
    code, err = _run_main(["clicks", "--curated", str(bad), "--out", str(tmp_path / "o"), "--workers", "2"],
                          monkeypatch, capsys)
    assert code == 2 and "disagrees with image size" in err and "Traceback" not in err
    assert err.strip().count("\n") <= 1  # the params line, then the one-line error
    (bad / "val.json").write_text("{not json")
    code, err = _run_main(["clicks", "--curated", str(bad), "--out", str(tmp_path / "o")], monkeypatch, capsys)
    assert code == 2 and "malformed JSON" in err
    assert not (tmp_path / "o").exists()


def test_crowd_persons_and_non_persons_get_no_clicks(tmp_path):
    cur = make_curated(tmp_path / "c", n_images=3, seed=1, images=False)
    data = json.loads((cur / "train.json").read_text())
    person = next(a for a in data["annotations"] if a["category_id"] == 1)
    crowd = dict(person, id=999999, iscrowd=1)
    data["annotations"].append(crowd)
    (cur / "train.json").write_text(json.dumps(data))
    run_clicks(cur, tmp_path / "o", ClicksParams(), seed=1, show_progress=False)
    df = pd.read_parquet(tmp_path / "o" / "clicks.parquet")
    assert 999999 not in set(df["annotation_id"])
    others = {a["id"] for s in ("train", "val", "test") for a in json.loads((cur / f"{s}.json").read_text())["annotations"]
              if a["category_id"] != 1}
    assert not others & set(df["annotation_id"])


def test_decode_cropped_matches_full_decode():
    rng = np.random.default_rng(0)
    for _ in range(300):
        h, w = int(rng.integers(5, 60)), int(rng.integers(5, 60))
        polys = []
        for _ in range(int(rng.integers(1, 3))):
            k = int(rng.integers(3, 8))
            cx, cy = rng.uniform(-10, w + 10), rng.uniform(-10, h + 10)
            polys.append(np.stack([cx + rng.normal(0, w / 4, k), cy + rng.normal(0, h / 4, k)], 1).ravel().tolist())
        ann = {"segmentation": polys}
        full = ann_to_mask(ann, h, w)
        x0, y0, m = decode_cropped(ann, h, w)
        ref = np.zeros((h, w), np.uint8)
        ref[y0 : y0 + m.shape[0], x0 : x0 + m.shape[1]] = m
        assert np.array_equal(ref, full)
    from portraitkit.curate.masks import mask_to_rle

    full = np.zeros((20, 30), np.uint8)
    full[5:9, 7:20] = 1
    x0, y0, m = decode_cropped({"segmentation": mask_to_rle(full)}, 20, 30)
    assert (x0, y0, m.shape) == (7, 5, (4, 13)) and m.all()


def test_no_persons_gives_empty_but_valid_outputs(tmp_path):
    cur = tmp_path / "cur"
    cur.mkdir()
    for s in ("train", "val", "test"):
        (cur / f"{s}.json").write_text('{"images": [], "annotations": [], "categories": []}')
    summary = run_clicks(cur, tmp_path / "o", ClicksParams(), seed=1, show_progress=False)
    assert summary["instances"] == 0 and summary["sets"] == 0
    df = read_clicks(tmp_path / "o")
    assert list(df.columns) == COLUMNS and len(df) == 0
