"""The data report on the real stages' outputs (tests/conftest.py ``stage_outputs``): sections,
missing stages, determinism, metrics/plots, identity, CLI."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from portraitkit.errors import UserError
from portraitkit.io import write_parquet
from portraitkit.outputs import FILE_KEY, MARKER
from portraitkit.params import Params, ReportParams, load_params
from portraitkit.reports.collect import ReportInputs, as_list, collect, reason_list
from portraitkit.reports.sections import SECTIONS, funnel_steps, headline
from portraitkit.reports.stage import build_report

ALL_SECTIONS = ["funnel", "distributions", "coarse", "examples", "clicks", "augmentation", "training", "device",
                "identity"]
# sections of the train / evaluate / export runs: tests/test_report_training.py, tests/test_export.py
MODEL_SECTIONS = {"training", "device"}
STAGES = ("curated", "flags", "clicks", "augmented")


def inputs_of(outputs, stages=STAGES, **moved) -> ReportInputs:
    """Report inputs on the session pipeline; stages not listed point at folders that do not exist."""
    absent = outputs.root / "not-run"
    paths = {name: (moved.get(name) or getattr(outputs, name)) if name in stages else absent / name for name in STAGES}
    return ReportInputs(images=moved.get("images", outputs.images), **paths)


@pytest.fixture(scope="module")
def full_inputs(stage_outputs) -> ReportInputs:
    return inputs_of(stage_outputs)


@pytest.fixture(scope="module")
def truth(stage_outputs) -> dict:
    """What the stages wrote, read straight from their files (the report must show these numbers)."""
    man = pd.read_parquet(stage_outputs.curated / "manifest.parquet")
    flags = pd.read_parquet(stage_outputs.flags / "flags.parquet")
    clicks = pd.read_parquet(stage_outputs.clicks / "clicks.parquet")
    variants = pd.read_parquet(stage_outputs.augmented / "variants.parquet")
    kept = man[man["kept"]]
    return {"man": man, "kept": kept, "flags": flags, "clicks": clicks, "variants": variants,
            "splits": {s: int((kept["split"] == s).sum()) for s in ("train", "val", "test")}}


def expected_tiles(truth: dict, coarse: int, flag: int, click: int) -> int:
    persons = len(truth["flags"])
    most = min(coarse, persons)
    least = min(coarse, persons - most)
    # around the threshold: up to coarse // 2 persons on each side of it, among those not shown above
    f = truth["flags"].sort_values(["coarseness", "annotation_id"], ascending=[False, True])
    rest = f.iloc[most:]
    rest = rest.sort_values(["coarseness", "annotation_id"]).iloc[least:]
    k = max(1, coarse // 2)
    border = min(k, int(rest["flagged"].sum())) + min(k, int((~rest["flagged"]).sum()))
    man = truth["man"]
    examples = min(flag, int(man["body_part_flag"].sum())) + min(flag, int(man["held_object_flag"].sum()))
    c = truth["clicks"]
    clicks = sum(min(click, g["annotation_id"].nunique()) for _, g in c.groupby("strategy"))
    return most + least + border + examples + clicks


def _params(**report) -> Params:
    p = load_params(Path(__file__).parents[1] / "params.yaml")
    p.report = ReportParams(**{**p.report.model_dump(), **report})
    return p


def _build(inputs: ReportInputs, out: Path, params: Params | None = None):
    return build_report(inputs, params or _params(), out / "site", out / "metrics.json", out / "plots")


def test_full_report_has_every_section(full_inputs, truth, tmp_path):
    result = _build(full_inputs, tmp_path)
    html = result.html.read_text(encoding="utf-8")
    assert [sid for sid, _ in result.sections] == ALL_SECTIONS
    assert all(ok for sid, ok in result.sections if sid not in MODEL_SECTIONS)
    for sid in ALL_SECTIONS:
        assert f'id="{sid}"' in html and f'href="#{sid}"' in html
    assert html.count("Stage not run") == len(MODEL_SECTIONS)  # no --train / --evaluate given
    # self-contained: nothing referenced outside the page
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<link" not in html
    srcs = re.findall(r'<img src="([^"]+)"', html)
    assert srcs and all(s.startswith(("data:image/jpeg;base64,", "data:image/svg+xml;base64,")) for s in srcs)
    assert result.size_bytes < 10_000_000
    # the headline numbers are the stages' own
    man, kept = truth["man"], truth["kept"]
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["source_images"] == len(man) == 16 and m["kept_images"] == len(kept) > 0
    assert m["kept_fraction"] == pytest.approx(len(kept) / 16, abs=1e-4)
    assert m["splits"] == truth["splits"] and m["persons"] == int(kept["n_persons"].sum())
    assert m["persons_scored"] == len(truth["flags"]) and m["flagged_persons"] == int(truth["flags"]["flagged"].sum())
    assert m["click_sets"] == len(truth["clicks"]) and m["click_strategies"] == truth["clicks"]["strategy"].nunique()
    assert m["augmented_variants"] == len(truth["variants"]) > 0
    # KPI cards show them
    assert f">{len(man)}<" in html and f">{len(kept) / len(man):.1%}<" in html and f">{len(truth['clicks'])}<" in html
    # galleries: the configured number of examples, every click strategy the stage wrote
    rp = _params().report
    assert html.count('class="tile') == expected_tiles(truth, rp.coarse_examples, rp.flag_examples, rp.click_examples)
    assert "Most coarse" in html and "Least coarse" in html
    assert ("Around the threshold" in html) == (len(truth["flags"]) > 2 * rp.coarse_examples)
    for strategy in truth["clicks"]["strategy"].unique():
        assert f">{strategy.replace('_', ' ')}</h3>" in html


def test_plots_are_csv_histograms(full_inputs, truth, tmp_path):
    _build(full_inputs, tmp_path)
    plots = tmp_path / "plots"
    assert sorted(p.name for p in plots.iterdir() if p.name != MARKER) == [
        "coverage_after.csv", "coverage_before.csv", "funnel.csv", "persons_after.csv", "persons_before.csv",
    ]
    before = pd.read_csv(plots / "coverage_before.csv")
    after = pd.read_csv(plots / "coverage_after.csv")
    assert list(before.columns) == ["coverage", "images"] and len(before) == _params().report.coverage_bins
    assert before["images"].sum() == len(truth["man"]) and after["images"].sum() == len(truth["kept"])
    persons = pd.read_csv(plots / "persons_before.csv", dtype={"persons": str})
    assert persons["images"].sum() == len(truth["man"]) and persons["persons"].tolist()[0] == "00"
    counts = truth["man"]["n_persons"].value_counts()
    assert dict(zip(persons["persons"].astype(int), persons["images"])) == {
        k: int(counts.get(k, 0)) for k in persons["persons"].astype(int)}
    funnel = pd.read_csv(plots / "funnel.csv")
    assert funnel["remaining"].iloc[0] == len(truth["man"]) and funnel["remaining"].iloc[-1] == len(truth["kept"])


def test_report_is_deterministic(full_inputs, tmp_path):
    a = _build(full_inputs, tmp_path / "a")
    b = _build(full_inputs, tmp_path / "b")
    assert a.html.read_bytes() == b.html.read_bytes()
    assert (tmp_path / "a/metrics.json").read_bytes() == (tmp_path / "b/metrics.json").read_bytes()
    for f in (tmp_path / "a/plots").iterdir():
        assert f.read_bytes() == (tmp_path / "b/plots" / f.name).read_bytes()
    html = a.html.read_text(encoding="utf-8")
    assert not re.search(r"20\d\d-\d\d-\d\d", html)  # no dates anywhere (SVG metadata included)


def test_rebuild_replaces_the_output_folder(full_inputs, tmp_path):
    _build(full_inputs, tmp_path)
    (tmp_path / "site" / "stale.txt").write_text("old")
    _build(full_inputs, tmp_path)
    assert sorted(p.name for p in (tmp_path / "site").iterdir() if not p.name.startswith(".")) == ["index.html"]


def test_missing_stages_show_a_note(stage_outputs, tmp_path):
    result = _build(inputs_of(stage_outputs, stages=("curated",)), tmp_path / "out")
    available = dict(result.sections)
    assert available == {"funnel": True, "distributions": True, "coarse": False, "examples": True,
                         "clicks": False, "augmentation": False, "training": False, "device": False,
                         "identity": True}
    html = result.html.read_text(encoding="utf-8")
    assert html.count("Stage not run") == 5
    m = json.loads((tmp_path / "out/metrics.json").read_text())
    assert "kept_images" in m and "flagged_fraction" not in m and "click_sets" not in m


def test_nothing_run_still_renders(stage_outputs, tmp_path):
    result = _build(inputs_of(stage_outputs, stages=()), tmp_path / "out")
    assert [ok for _, ok in result.sections] == [False] * 8 + [True]
    assert json.loads((tmp_path / "out/metrics.json").read_text()) == {FILE_KEY: "report"}  # only the ownership key
    # DVC expects every declared plot to exist
    assert len(list((tmp_path / "out/plots").glob("*.csv"))) == 5
    html = result.html.read_text(encoding="utf-8")
    assert html.count("Stage not run") == 8 and "no stage output found" in html


def test_missing_photo_becomes_a_placeholder_not_a_broken_image(stage_outputs, tmp_path):
    inputs = inputs_of(stage_outputs, stages=("curated", "flags"), images=tmp_path / "no-photos")
    result = _build(inputs, tmp_path / "out")
    html = result.html.read_text(encoding="utf-8")
    assert dict(result.sections)["coarse"] and "photo missing" not in html  # drawn into the JPEG, not text
    assert html.count("data:image/jpeg") >= 2 * min(_params().report.coarse_examples, 1)


def test_funnel_matches_the_manifest(full_inputs, truth):
    source, steps = funnel_steps(collect(full_inputs))
    assert source == len(truth["man"])
    dropped = truth["man"].loc[~truth["man"]["kept"], "reason"].value_counts()
    assert {s["rule"]: s["dropped"] for s in steps if s["dropped"]} == dropped.to_dict()
    assert steps[-1]["remaining"] == len(truth["kept"])


def test_gallery_sizes_follow_params(full_inputs, truth, tmp_path):
    small = _build(full_inputs, tmp_path / "s", _params(coarse_examples=2, click_examples=1, flag_examples=1))
    html = small.html.read_text(encoding="utf-8")
    assert html.count('class="tile') == expected_tiles(truth, 2, 1, 1)
    assert expected_tiles(truth, 2, 1, 1) < expected_tiles(truth, 8, 8, 4)


def test_identity_fingerprint(full_inputs, tmp_path):
    a = _build(full_inputs, tmp_path / "a")
    # presentation params do not change the dataset's identity
    b = _build(full_inputs, tmp_path / "b", _params(thumb_px=128, title="other"))
    assert a.fingerprint == b.fingerprint
    # dataset params do
    p = _params()
    p.seed = p.seed + 1
    c = _build(full_inputs, tmp_path / "c", p)
    assert c.fingerprint != a.fingerprint
    html = a.html.read_text(encoding="utf-8")
    assert a.fingerprint in html and "instances.json" in html
    for name in ("curated", "flags", "clicks", "augmented"):
        assert str(getattr(full_inputs, name)) in html


def test_identity_follows_the_outputs(stage_outputs, tmp_path):
    curated = tmp_path / "curated"
    shutil.copytree(stage_outputs.curated, curated)
    inputs = inputs_of(stage_outputs, stages=("curated",), curated=curated)
    a = _build(inputs, tmp_path / "a")
    (curated / "val.json").write_text((curated / "val.json").read_text() + " ")
    b = _build(inputs, tmp_path / "b")
    assert a.fingerprint != b.fingerprint


def test_malformed_stage_output_is_a_user_error(stage_outputs, tmp_path):
    curated = tmp_path / "curated"
    shutil.copytree(stage_outputs.curated, curated)
    inputs = inputs_of(stage_outputs, stages=("curated",), curated=curated)
    write_parquet(curated / "manifest.parquet", pd.DataFrame({"image_id": [1]}))
    with pytest.raises(UserError, match=r"manifest.parquet: missing column\(s\) file_name, kept, width"):
        _build(inputs, tmp_path / "out")
    write_parquet(curated / "manifest.parquet", pd.read_parquet(stage_outputs.curated / "manifest.parquet"))
    (curated / "funnel.json").write_text('[{"rule": "x"}]')
    with pytest.raises(UserError, match="funnel.json"):
        _build(inputs, tmp_path / "out2")


def test_list_cells():
    import numpy as np

    assert as_list(np.array(["a", "b"])) == ["a", "b"] and as_list(None) == [] and as_list("") == []
    assert reason_list("few_vertices;hull_gap") == ["few_vertices", "hull_gap"]
    assert reason_list(np.array(["a;b", "c"])) == ["a", "b", "c"] and reason_list(None) == []


def test_sections_are_a_list_of_objects():
    ids = [s.id for s in SECTIONS]
    assert ids == ALL_SECTIONS and len(set(ids)) == len(ids)
    assert all(callable(getattr(s, "build", None)) and s.title for s in SECTIONS)


def test_params_section(tmp_path):
    # every key params.yaml sets for the report is what the loaded section holds
    repo_params = Path(__file__).parents[1] / "params.yaml"
    written = yaml.safe_load(repo_params.read_text(encoding="utf-8"))["report"]
    loaded = load_params(repo_params).report.model_dump()
    assert written and {k: loaded[k] for k in written} == written
    # a value given in a file replaces the default; the others stay at their defaults
    own = tmp_path / "own.yaml"
    own.write_text("report:\n  thumb_px: 200\n  title: Release 7\n")
    got = load_params(own).report
    assert (got.thumb_px, got.title) == (200, "Release 7") != (ReportParams().thumb_px, ReportParams().title)
    assert got.model_dump(exclude={"thumb_px", "title"}) == ReportParams().model_dump(exclude={"thumb_px", "title"})
    bad = tmp_path / "params.yaml"
    bad.write_text("report:\n  thumb_px: 3\n")
    with pytest.raises(UserError, match="report.thumb_px"):
        load_params(bad)
    bad.write_text("report:\n  gallery: 3\n")
    with pytest.raises(UserError, match="report.gallery"):
        load_params(bad)


def test_cli(full_inputs, truth, tmp_path):
    from portraitkit.reports.cli import app

    params = tmp_path / "params.yaml"
    params.write_text("report:\n  coarse_examples: 3\n")
    args = [
        "--out", str(tmp_path / "site"), "--metrics", str(tmp_path / "m.json"), "--plots", str(tmp_path / "plots"),
        "--curated", str(full_inputs.curated), "--flags", str(full_inputs.flags), "--clicks", str(full_inputs.clicks),
        "--augmented", str(full_inputs.augmented), "--images", str(full_inputs.images),
        "--params", str(params), "--click-examples", "2", "--title", "Release 7",
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "m.json").read_text())[FILE_KEY] == "report"
    assert CliRunner().invoke(app, args).exit_code == 0  # its own outputs are replaced
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "<h1>Release 7</h1>" in html
    assert html.count('class="tile') == expected_tiles(truth, 3, ReportParams().flag_examples, 2)
    assert json.loads((tmp_path / "m.json").read_text())["kept_images"] == len(truth["kept"])
    bad = CliRunner().invoke(app, args + ["--thumb-px", "1"])
    assert bad.exit_code != 0 and isinstance(bad.exception, UserError)


def test_tool_settings_do_not_change_the_fingerprint(full_inputs, tmp_path):
    a = _build(full_inputs, tmp_path / "a")
    p = _params()
    p.review.port = int(p.review.port) + 1
    b = _build(full_inputs, tmp_path / "b", p)
    assert a.fingerprint == b.fingerprint


def test_borderline_persons_sit_on_both_sides_of_the_threshold():
    from portraitkit.reports.sections import borderline

    c = [0.05, 0.2, 0.45, 0.49, 0.5, 0.51, 0.7, 0.95]
    scored = pd.DataFrame({"annotation_id": range(1, 9), "_c": c, "flagged": [x >= 0.5 for x in c]})
    b = borderline(scored, 0.5, 2, exclude={8, 1})  # the extremes are shown elsewhere
    assert b["annotation_id"].tolist() == [6, 5, 4, 3]  # two just above (flagged), two just below, coarsest first
    assert borderline(scored, None, 1, set())["annotation_id"].tolist() == [5, 4]  # no threshold: the flag splits
    assert borderline(scored, 0.99, 2, set())["annotation_id"].tolist() == [8, 7]  # nothing above it
