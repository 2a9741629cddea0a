"""The report's training and evaluation section on real runs: two tiny models (automatic and interactive)
trained and evaluated through the real CLI on the session pipeline (tests/conftest.py ``stage_outputs``)."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from portraitkit.errors import UserError
from portraitkit.io import read_json
from portraitkit.params import load_params
from portraitkit.reports.blocks import Figure, FigureGrid, Gallery, Table
from portraitkit.reports.collect import ReportInputs, collect
from portraitkit.reports.sections import BuildContext
from portraitkit.reports.stage import build_report
from portraitkit.reports.training_section import CLICK_COLUMNS, MODEL_COLUMNS, PREDICTION_EXAMPLES, TrainingSection, read_curve
from portraitkit.train.contract import CURVES
from tests.conftest import run_portraitkit


@dataclass(frozen=True)
class Runs:
    params: Path
    train: Path  # root: train/<name>/
    evaluate: Path  # root: evaluate/<name>/


@pytest.fixture(scope="module")
def runs(stage_outputs, tmp_path_factory) -> Runs:
    """train + evaluate ``main`` (automatic, scored on the train split: the demo's test split is empty)
    and ``click`` (interactive, val split, GrabCut beside it), 3 steps at 32 px."""
    root = tmp_path_factory.mktemp("model_runs")
    params = yaml.safe_load(stage_outputs.params.read_text())
    params["train"].update(input_size=32, batch_size=4, steps=3, warmup_steps=1)
    params["clicks"]["max_clicks"] = 6  # NoC up to 6 clicks keeps GrabCut cheap
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    s = stage_outputs
    for name, split, extra in (("main", "train", []), ("click", "val", ["--interactive", "--clicks", s.clicks])):
        run_portraitkit("train", "--curated", s.curated, "--images", s.images, "--out", root / "train" / name,
                        "--device", "cpu", "--threads", 1, "--params", path, *extra)
        run_portraitkit("evaluate", "--model", root / "train" / name / "model.pt", "--curated", s.curated,
                        "--images", s.images, "--out", root / "evaluate" / name, "--split", split,
                        "--device", "cpu", "--threads", 1, "--params", path)
    return Runs(path, root / "train", root / "evaluate")


def _inputs(s, train: Path | None, evaluate: Path | None) -> ReportInputs:
    absent = s.root / "not-run"
    return ReportInputs(curated=s.curated, flags=absent / "f", clicks=absent / "c", augmented=absent / "a",
                        images=s.images, train=train, evaluate=evaluate)


def _section(inputs: ReportInputs, params_path: Path):
    return TrainingSection().build(BuildContext(collect(inputs), load_params(params_path), None))


def _blocks(view, kind):
    out = []
    for b in view.blocks:
        out += b.figures if isinstance(b, FigureGrid) and kind is Figure else ([b] if isinstance(b, kind) else [])
    return out


def test_table_holds_the_runs_metrics(stage_outputs, runs):
    view = _section(_inputs(stage_outputs, runs.train, runs.evaluate), runs.params)
    assert view.available
    tables = {tuple(t.columns): t for t in _blocks(view, Table)}
    rows = {r[0]: dict(zip(MODEL_COLUMNS, r)) for r in tables[tuple(MODEL_COLUMNS)].rows}
    assert sorted(rows) == ["click", "main"]
    for name, row in rows.items():
        tm = read_json(runs.train / name / "metrics.json")
        em = read_json(runs.evaluate / name / "metrics.json")
        assert row["arch"] == tm["arch"] == "portrait_unet"
        assert row["task"] == ("interactive" if tm["interactive"] else "automatic")
        assert row["parameters"] == f"{tm['n_params'] / 1e3:.2f} k" and tm["n_params"] == em["model"]["n_params"]
        assert row["MACs"] in (f"{tm['macs'] / 1e3:.2f} k", f"{tm['macs'] / 1e6:.2f} M")
        assert row["val IoU"] == f"{tm['val_iou']:.3f}"
        assert row["IoU"] == f"{em['iou']:.3f}" and row["mIoU"] == f"{em['miou']:.3f}"
        assert row["Boundary IoU"] == f"{em['boundary_iou']:.3f}"
        size = em["model"]["size_bytes"]
        assert size == (runs.train / name / "model.pt").stat().st_size
        assert row["file size"] in (f"{size / 1e6:.2f} MB", f"{size / 1e3:.1f} kB")
        if tm["interactive"]:
            assert row["NoC@85"] == f"{em['noc85']:.2f}" and row["NoC@90"] == f"{em['noc90']:.2f}"
            assert row["GrabCut NoC@85"] == f"{em['grabcut']['noc85']:.2f}"
            assert row["GrabCut NoC@90"] == f"{em['grabcut']['noc90']:.2f}"
        else:
            assert row["NoC@85"] == row["GrabCut NoC@90"] == "—"
    # the interactive table: IoU after 1 / 3 / 5 clicks beside GrabCut
    (click,) = tables[tuple(CLICK_COLUMNS)].rows
    em = read_json(runs.evaluate / "click" / "metrics.json")
    assert click[0] == "click" and click[1:3] == [f"{em['iou_at_1']:.3f}", f"{em['grabcut']['iou_at_1']:.3f}"]
    assert click[-1] == str(em["noc_instances"])
    assert "mean of the person IoU and the background IoU" in tables[tuple(MODEL_COLUMNS)].caption


def test_predictions_curves_and_page(stage_outputs, runs, tmp_path):
    inputs = _inputs(stage_outputs, runs.train, runs.evaluate)
    view = _section(inputs, runs.params)
    galleries = {g.title: g for g in _blocks(view, Gallery)}
    for name in ("main", "click"):
        per = pd.read_parquet(runs.evaluate / name / "per_image.parquet").sort_values(["iou", "image_id"])
        worst = galleries[f"{name}: worst predictions"].items
        best = galleries[f"{name}: best predictions"].items
        n_worst = min(PREDICTION_EXAMPLES, len(per))
        assert len(worst) == n_worst and len(best) == min(PREDICTION_EXAMPLES, len(per) - n_worst)
        assert [it.title for it in worst] == [f"image {i}" for i in per["image_id"].head(n_worst)]
        if best:  # highest IoU of the images not shown as worst; ties go to the lower image id
            rest = per[~per["image_id"].isin(per["image_id"].head(n_worst))]
            top = rest[rest["iou"] == rest["iou"].max()]["image_id"].min()
            assert best[0].title == f"image {top}"
        assert all(it.src.startswith("data:image/jpeg;base64,") for it in worst + best)
        assert worst[0].chips[0] == ("IoU", f"{per['iou'].iloc[0]:.3f}")
    figures = {f.alt: f for f in _blocks(view, Figure)}
    assert "IoU against clicks, models and GrabCut" in figures
    # curves: drawn exactly when the runs logged them (dvclive), with the logged numbers
    logged = (runs.train / "main" / CURVES["loss"]).is_file()
    assert ("Training loss per step" in figures) == logged
    if logged:
        loss = read_curve(runs.train / "main", "loss")
        assert len(loss) == read_json(runs.train / "main" / "metrics.json")["steps"]
        assert loss["value"].iloc[0] == pytest.approx(read_json(runs.train / "main" / "metrics.json")["first_loss"])

    a = build_report(inputs, load_params(runs.params), tmp_path / "a")
    b = build_report(inputs, load_params(runs.params), tmp_path / "b")
    html = a.html.read_text(encoding="utf-8")
    assert dict(a.sections)["training"] and a.html.read_bytes() == b.html.read_bytes()
    assert 'id="training"' in html and not re.search(r'(src|href)="(https?:)?//', html)
    assert f"train: {runs.train}" in html and f"evaluate: {runs.evaluate}" in html


def test_a_root_that_is_one_run_and_evaluate_only_runs(stage_outputs, runs):
    # --train pointing at one run folder; an evaluated file with no train run of its name
    view = _section(_inputs(stage_outputs, runs.train / "main", runs.evaluate), runs.params)
    (table,) = [t for t in _blocks(view, Table) if t.columns == MODEL_COLUMNS]
    rows = {r[0]: r for r in table.rows}
    assert sorted(rows) == ["click", "main"]
    assert rows["click"][MODEL_COLUMNS.index("val IoU")] == "—"  # no train run named click under that root
    assert rows["click"][MODEL_COLUMNS.index("task")] == "interactive"  # from the checkpoint evaluate read


def test_bad_runs_are_one_line_errors(stage_outputs, runs, tmp_path):
    root = tmp_path / "train"
    shutil.copytree(runs.train, root)
    (root / "stray").mkdir()
    with pytest.raises(UserError, match=r"stray: missing model.pt, metrics.json, timing.json \(is it a `portraitkit train` output\?\)"):
        _section(_inputs(stage_outputs, root, None), runs.params)
    shutil.rmtree(root / "stray")
    m = read_json(root / "main" / "metrics.json")
    del m["n_params"]
    (root / "main" / "metrics.json").write_text(json.dumps(m))
    with pytest.raises(UserError, match=r"main/metrics.json: missing key\(s\) n_params$"):
        _section(_inputs(stage_outputs, root, None), runs.params)
    ev = tmp_path / "evaluate"
    shutil.copytree(runs.evaluate, ev)
    pd.read_parquet(ev / "main" / "per_image.parquet").drop(columns=["boundary_iou"]).to_parquet(ev / "main" / "per_image.parquet")
    with pytest.raises(UserError, match=r"per_image.parquet: missing column\(s\) boundary_iou$"):
        _section(_inputs(stage_outputs, None, ev), runs.params)


def test_cli_train_and_evaluate_options(stage_outputs, runs, tmp_path):
    from portraitkit.reports.cli import app

    s = stage_outputs
    base = ["--curated", str(s.curated), "--flags", str(s.flags), "--clicks", str(s.clicks),
            "--augmented", str(s.augmented), "--images", str(s.images), "--params", str(runs.params)]
    res = CliRunner().invoke(app, ["--out", str(tmp_path / "site"), *base, "--train", str(runs.train),
                                   "--evaluate", str(runs.evaluate)])
    assert res.exit_code == 0, res.output
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    training = html.split('id="training"', 1)[1].split("<section", 1)[0]
    assert "main: worst predictions" in training and "Stage not run" not in training
    for option in ("--train", "--evaluate"):
        bad = CliRunner().invoke(app, ["--out", str(tmp_path / "bad"), *base, option, str(tmp_path / "nope")])
        assert bad.exit_code != 0 and isinstance(bad.exception, UserError)
        assert str(bad.exception) == f"{option} {tmp_path / 'nope'}: no such folder (the root of the {option[2:]} stage's runs, one folder per run)"
        assert not (tmp_path / "bad").exists()
