"""End to end: demo-data + curate through the CLI, and the DVC pipeline's rerun behaviour."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from pycocotools.coco import COCO

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "portraitkit.cli", *args], capture_output=True, text=True, cwd=cwd,
        env={**os.environ, "PORTRAITKIT_QUIET": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def test_demo_data_then_curate(tmp_path):
    cli("demo-data", str(tmp_path / "demo"), "--images", "24", "--seed", "3", cwd=tmp_path)
    proc = cli(
        "curate",
        "--annotations", str(tmp_path / "demo/annotations/instances.json"),
        "--keypoints", str(tmp_path / "demo/annotations/person_keypoints.json"),
        "--images", str(tmp_path / "demo/images"),
        "--masks", "--out", str(tmp_path / "cur"),
        cwd=tmp_path,
    )
    assert "24 source images" in proc.stderr
    m = pd.read_parquet(tmp_path / "cur/manifest.parquet")
    assert len(m) == 24 and m["image_id"].is_unique
    kept = m[m["kept"]]
    assert 0 < len(kept) < 24
    assert set(m.loc[~m["kept"], "reason"]) <= {
        "invalid", "crowd", "no_person", "too_many_persons", "coverage_low", "coverage_high",
        "body_part_only", "held_object", "rejected_in_review",
    }
    assert (m.loc[~m["kept"], "reason"] != "").all() and (kept["reason"] == "").all()
    funnel = json.loads((tmp_path / "cur/funnel.json").read_text())
    assert funnel[-1]["remaining"] == len(kept)
    assert sum(f["dropped"] for f in funnel) == 24 - len(kept)
    n_split = sum(len(COCO(str(tmp_path / f"cur/{s}.json")).getImgIds()) for s in ("train", "val", "test"))
    assert n_split == len(kept)
    assert sorted(p.stem for p in (tmp_path / "cur/masks").iterdir()) == sorted(map(str, kept["image_id"]))


def _copy_repo(dest: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for f in files:
        if (REPO / f).is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, dest / f)


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_dvc_repro_reruns_only_what_changed(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _copy_repo(repo)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PORTRAITKIT_QUIET": "1"}

    def run(*cmd: str) -> str:
        proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout + proc.stderr

    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["demo"]["images"] = 12
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run("git", "init", "-q")
    run("git", "add", "-A")
    run("git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init")

    first = run(str(BIN / "dvc"), "repro", "curate")
    assert "Running stage 'demo-data'" in first and "Running stage 'curate'" in first
    manifest = (repo / "data/curated/manifest.parquet").read_bytes()

    second = run(str(BIN / "dvc"), "repro", "curate")
    assert "Running stage" not in second

    params["curate"]["min_coverage"] = 0.25
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    third = run(str(BIN / "dvc"), "repro", "curate")
    assert "Running stage 'curate'" in third and "Running stage 'demo-data'" not in third

    params["curate"]["min_coverage"] = 0.2
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(str(BIN / "dvc"), "repro", "curate")
    assert (repo / "data/curated/manifest.parquet").read_bytes() == manifest
