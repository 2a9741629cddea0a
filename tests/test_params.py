"""params.yaml validation: bad values fail at start-up with a message naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from portraitkit.errors import UserError
from portraitkit.params import CurateParams, Params, load_params, override

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path, text):
    p = tmp_path / "params.yaml"
    p.write_text(text)
    return p


def _differences(model: object, written: object, key: str = "") -> list[str]:
    """Every key whose value differs between the schema's dump and params.yaml, or that one lacks."""
    if isinstance(model, dict) and isinstance(written, dict):
        out = []
        for k in sorted(set(model) | set(written), key=str):
            sub = f"{key}.{k}" if key else str(k)
            if k not in written:
                out.append(f"{sub}: default {model[k]!r} missing from params.yaml")
            elif k not in model:
                out.append(f"{sub}: in params.yaml ({written[k]!r}) but not in the schema")
            else:
                out.extend(_differences(model[k], written[k], sub))
        return out
    if isinstance(model, list) and isinstance(written, list) and len(model) == len(written):
        return [d for i, (m, w) in enumerate(zip(model, written)) for d in _differences(m, w, f"{key}[{i}]")]
    # 128 and 128.0 are the same value; a bool is not a number here
    if model != written or isinstance(model, bool) != isinstance(written, bool):
        return [f"{key}: schema default {model!r}, params.yaml {written!r}"]
    return []


def test_params_yaml_is_exactly_the_schema_defaults():
    """One source of truth: every key and value of params.yaml equals the pydantic default, and
    every default is written in params.yaml (new sections are covered without listing them)."""
    written = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    differences = _differences(Params().model_dump(mode="json"), written)
    assert not differences, "params.yaml and the params models disagree:\n" + "\n".join(differences)


def test_the_comparison_sees_a_changed_nested_value():
    written = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    written["flag"]["signals"]["refine_biou"]["bad"] = 0.44
    del written["curate"]["workers"]
    found = _differences(Params().model_dump(mode="json"), written)
    assert any(d.startswith("flag.signals.refine_biou.bad:") for d in found)
    assert any(d.startswith("curate.workers:") for d in found)


@pytest.mark.parametrize(
    "text, key",
    [
        ("curate: {min_coverage: 1.5}", "curate.min_coverage"),
        ("curate: {max_coverage: -0.1}", "curate.max_coverage"),
        ("curate: {min_persons: two}", "curate.min_persons"),
        ("curate: {min_coverage: 0.8, max_coverage: 0.5}", "min_coverage (0.8) > max_coverage (0.5)"),
        ("curate: {min_persons: 3, max_persons: 2}", "min_persons (3) > max_persons (2)"),
        ("curate: {body_part_policy: maybe}", "curate.body_part_policy"),
        ("curate: {split: {train: 0.5, val: 0.2, test: 0.1}}", "curate.split"),
        ("curate: {min_coverag: 0.2}", "curate.min_coverag"),
        ("seed: abc", "seed"),
    ],
)
def test_invalid_params_name_the_key(tmp_path, text, key):
    with pytest.raises(UserError) as err:
        load_params(write(tmp_path, text))
    assert "params.yaml" in str(err.value)
    assert key in str(err.value)


def test_missing_default_file_gives_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_params().curate == CurateParams()
    with pytest.raises(UserError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")


def test_command_line_override_is_validated():
    p = override(CurateParams(), "curate", min_coverage=0.3, max_coverage=None)
    assert p.min_coverage == 0.3 and p.max_coverage == 0.7
    with pytest.raises(UserError) as err:
        override(CurateParams(), "curate", min_coverage=2.0)
    assert str(err.value) == "--min-coverage 2: curate.min_coverage must be ≤ 1"


def test_cli_rejects_bad_params_at_startup(tmp_path):
    write(tmp_path, "curate: {min_coverage: 1.5}")
    proc = subprocess.run(
        [sys.executable, "-m", "portraitkit.cli", "curate", "--annotations", "x.json", "--out", "o"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "curate.min_coverage" in proc.stderr and "Traceback" not in proc.stderr


def _cli(args, cwd):
    return subprocess.run([sys.executable, "-m", "portraitkit.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_command_names_the_params_it_used_and_the_typed_option(tmp_path):
    proc = _cli(["curate", "--annotations", "x.json", "--out", "o", "--min-coverage", "2"], tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == "params: built-in defaults (no ./params.yaml here)"
    assert lines[1] == "error: --min-coverage 2: curate.min_coverage must be ≤ 1"
    proc = _cli(["clicks", "--curated", "c", "--out", "o", "--sets", "0", "--params", str(REPO / "params.yaml")],
                tmp_path)
    assert proc.stderr.splitlines()[:2] == [f"params: {REPO / 'params.yaml'}",
                                            "error: --sets 0: clicks.sets_per_strategy must be ≥ 1"]


def test_every_stage_command_reads_params_through_the_announcing_loader():
    from portraitkit.cli import STAGE_APPS

    for module in STAGE_APPS:
        folder, name = module.split(".")[1:-1], module.split(".")[-1]
        path = REPO.joinpath(*(folder if folder != ["cli"] else []), f"{name}.py")
        text = path.read_text(encoding="utf-8")
        assert "load_params(" not in text, f"{path}: use cli_common.load_command_params (it says which params)"


def test_policies_and_strategies_are_choices_that_help_lists(tmp_path):
    help_text = _cli(["curate", "--help"], tmp_path).stdout
    assert "keep|flag|drop" in help_text
    proc = _cli(["curate", "--annotations", "x.json", "--out", "o", "--body-part-policy", "maybe"], tmp_path)
    assert proc.returncode == 2 and "--body-part-policy" in proc.stderr and "Traceback" not in proc.stderr
    proc = _cli(["clicks", "--curated", "c", "--out", "o", "--strategies", "xu_pos_neg1,center"], tmp_path)
    assert proc.returncode == 2 and "center: choose from xu_pos_neg1" in proc.stderr
