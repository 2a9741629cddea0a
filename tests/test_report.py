"""The data report: sections, missing stages, determinism, metrics/plots, identity, CLI."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from portraitkit.errors import UserError
from portraitkit.io import write_parquet
from portraitkit.params import Params, ReportParams, load_params
from portraitkit.reports.collect import ReportInputs, as_list, collect, reason_list
from portraitkit.reports.sections import SECTIONS, funnel_steps, headline
from portraitkit.reports.stage import build_report
from tests.report_fixtures import make_report_inputs

ALL_SECTIONS = ["funnel", "distributions", "coarse", "examples", "clicks", "augmentation", "identity"]


@pytest.fixture(scope="module")
def full_inputs(tmp_path_factory) -> ReportInputs:
    return make_report_inputs(tmp_path_factory.mktemp("report-in"))


def _params(**report) -> Params:
    p = Params()
    p.report = ReportParams(**report)
    return p


def _build(inputs: ReportInputs, out: Path, params: Params | None = None):
    return build_report(inputs, params or _params(), out / "site", out / "metrics.json", out / "plots")


def test_full_report_has_every_section(full_inputs, tmp_path):
    result = _build(full_inputs, tmp_path)
    html = result.html.read_text(encoding="utf-8")
    assert [sid for sid, _ in result.sections] == ALL_SECTIONS
    assert all(ok for _, ok in result.sections)
    for sid in ALL_SECTIONS:
        assert f'id="{sid}"' in html and f'href="#{sid}"' in html
    assert "Stage not run" not in html
    # self-contained: nothing referenced outside the page
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<link" not in html
    srcs = re.findall(r'<img src="([^"]+)"', html)
    assert srcs and all(s.startswith(("data:image/jpeg;base64,", "data:image/svg+xml;base64,")) for s in srcs)
    assert result.size_bytes < 10_000_000
    # the headline numbers of the fixture
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["source_images"] == 16 and m["kept_images"] == 11
    assert m["kept_fraction"] == pytest.approx(11 / 16, abs=1e-4)
    assert m["splits"] == {"train": 7, "val": 3, "test": 1}
    assert m["persons_scored"] == 16 and 0 < m["flagged_fraction"] < 1
    assert m["click_sets"] == 64 and m["click_strategies"] == 2
    assert m["augmented_variants"] == 9
    # KPI cards show them
    assert ">16<" in html and ">68.8%<" in html and ">64<" in html
    # galleries: the configured number of coarse examples at each end, both click strategies
    assert html.count('class="tile') >= 2 * 8 + 2 * 4
    assert "Most coarse" in html and "Least coarse" in html
    assert ">center</h3>" in html and ">random</h3>" in html


def test_plots_are_csv_histograms(full_inputs, tmp_path):
    _build(full_inputs, tmp_path)
    plots = tmp_path / "plots"
    assert sorted(p.name for p in plots.iterdir()) == [
        "coverage_after.csv", "coverage_before.csv", "funnel.csv", "persons_after.csv", "persons_before.csv",
    ]
    before = pd.read_csv(plots / "coverage_before.csv")
    after = pd.read_csv(plots / "coverage_after.csv")
    assert list(before.columns) == ["coverage", "images"] and len(before) == 20
    assert before["images"].sum() == 16 and after["images"].sum() == 11
    persons = pd.read_csv(plots / "persons_before.csv", dtype={"persons": str})
    assert persons["images"].sum() == 16 and persons["persons"].tolist()[0] == "00"
    funnel = pd.read_csv(plots / "funnel.csv")
    assert funnel["remaining"].iloc[0] == 16 and funnel["remaining"].iloc[-1] == 11


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
    assert sorted(p.name for p in (tmp_path / "site").iterdir()) == ["index.html"]


def test_missing_stages_show_a_note(tmp_path):
    inputs = make_report_inputs(tmp_path / "in", stages=("curated",))
    result = _build(inputs, tmp_path / "out")
    available = dict(result.sections)
    assert available == {"funnel": True, "distributions": True, "coarse": False, "examples": True,
                         "clicks": False, "augmentation": False, "identity": True}
    html = result.html.read_text(encoding="utf-8")
    assert html.count("Stage not run") == 3
    m = json.loads((tmp_path / "out/metrics.json").read_text())
    assert "kept_images" in m and "flagged_fraction" not in m and "click_sets" not in m


def test_nothing_run_still_renders(tmp_path):
    empty = tmp_path / "nothing"
    inputs = ReportInputs(curated=empty / "c", flags=empty / "f", clicks=empty / "k",
                          augmented=empty / "a", images=empty / "i")
    result = _build(inputs, tmp_path / "out")
    assert [ok for _, ok in result.sections] == [False] * 6 + [True]
    assert json.loads((tmp_path / "out/metrics.json").read_text()) == {}
    # DVC expects every declared plot to exist
    assert len(list((tmp_path / "out/plots").glob("*.csv"))) == 5
    html = result.html.read_text(encoding="utf-8")
    assert html.count("Stage not run") == 6 and "no stage output found" in html


def test_missing_photo_becomes_a_placeholder_not_a_broken_image(tmp_path):
    inputs = make_report_inputs(tmp_path / "in", stages=("curated", "flags"))
    shutil.rmtree(inputs.images)
    result = _build(inputs, tmp_path / "out")
    html = result.html.read_text(encoding="utf-8")
    assert dict(result.sections)["coarse"] and html.count("data:image/jpeg") >= 8


def test_funnel_with_or_without_a_source_record(tmp_path):
    with_src = make_report_inputs(tmp_path / "a", stages=("curated",), funnel_with_source=True)
    without = make_report_inputs(tmp_path / "b", stages=("curated",), funnel_with_source=False)
    src_a, steps_a = funnel_steps(collect(with_src))
    src_b, steps_b = funnel_steps(collect(without))
    assert src_a == src_b == 16
    assert [s["rule"] for s in steps_a] == [s["rule"] for s in steps_b] and steps_a[0]["rule"] == "invalid"
    assert headline(collect(with_src)) == headline(collect(without))


def test_gallery_sizes_follow_params(full_inputs, tmp_path):
    small = _build(full_inputs, tmp_path / "s", _params(coarse_examples=2, click_examples=1, flag_examples=1))
    html = small.html.read_text(encoding="utf-8")
    assert html.count('class="tile') == 2 * 2 + 2 * 1 + 2 * 1


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
    assert a.fingerprint in html and "annotations/instances.json" in html
    for name in ("curated", "flags", "clicks", "augmented"):
        assert str(getattr(full_inputs, name)) in html


def test_identity_follows_the_outputs(tmp_path):
    inputs = make_report_inputs(tmp_path / "in", stages=("curated",))
    a = _build(inputs, tmp_path / "a")
    (inputs.curated / "val.json").write_text((inputs.curated / "val.json").read_text() + " ")
    b = _build(inputs, tmp_path / "b")
    assert a.fingerprint != b.fingerprint


def test_malformed_stage_output_is_a_user_error(tmp_path):
    inputs = make_report_inputs(tmp_path / "in", stages=("curated",))
    write_parquet(inputs.curated / "manifest.parquet", pd.DataFrame({"image_id": [1]}))
    with pytest.raises(UserError, match=r"manifest.parquet: missing column\(s\) file_name, kept"):
        _build(inputs, tmp_path / "out")
    (inputs.curated / "funnel.json").write_text('{"rule": 1}')
    inputs2 = make_report_inputs(tmp_path / "in2", stages=("curated",))
    (inputs2.curated / "funnel.json").write_text('[{"rule": "x"}]')
    with pytest.raises(UserError, match="funnel.json"):
        _build(inputs2, tmp_path / "out2")


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
    assert load_params(Path(__file__).parents[1] / "params.yaml").report == ReportParams(
        **{k: v for k, v in load_params(Path(__file__).parents[1] / "params.yaml").report.model_dump().items()}
    )
    bad = tmp_path / "params.yaml"
    bad.write_text("report:\n  thumb_px: 3\n")
    with pytest.raises(UserError, match="report.thumb_px"):
        load_params(bad)
    bad.write_text("report:\n  gallery: 3\n")
    with pytest.raises(UserError, match="report.gallery"):
        load_params(bad)


def test_cli(full_inputs, tmp_path):
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
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "<h1>Release 7</h1>" in html
    assert html.count('class="tile') == 2 * 3 + (2 + 2) + 2 * 2  # the fixture has 2 body-part, 2 held-object images
    assert json.loads((tmp_path / "m.json").read_text())["kept_images"] == 11
    bad = CliRunner().invoke(app, args + ["--thumb-px", "1"])
    assert bad.exit_code != 0 and isinstance(bad.exception, UserError)


def test_tool_settings_do_not_change_the_fingerprint(full_inputs, tmp_path):
    data = Params().model_dump()
    if "port" not in data["review"]:
        pytest.skip("the review section has no port setting")
    a = _build(full_inputs, tmp_path / "a")
    data["review"]["port"] = int(data["review"]["port"]) + 1
    b = _build(full_inputs, tmp_path / "b", Params.model_validate(data))
    assert a.fingerprint == b.fingerprint
