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


def test_repository_params_file_is_valid_and_matches_schema_defaults():
    params = load_params(REPO / "params.yaml")
    assert isinstance(params, Params)
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    assert set(raw) <= set(Params.model_fields)


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
    with pytest.raises(UserError, match="command line: curate.min_coverage"):
        override(CurateParams(), "curate", min_coverage=2.0)


def test_cli_rejects_bad_params_at_startup(tmp_path):
    write(tmp_path, "curate: {min_coverage: 1.5}")
    proc = subprocess.run(
        [sys.executable, "-m", "portraitkit.cli", "curate", "--annotations", "x.json", "--out", "o"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "curate.min_coverage" in proc.stderr and "Traceback" not in proc.stderr
