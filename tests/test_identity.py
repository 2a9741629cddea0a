"""One identity per dataset version: execution settings (workers, device, threads, the review
App's port) change neither a stage's bytes, nor the fingerprint, nor what DVC reruns; dvc.yaml
depends on whole packages, every package a stage imports included."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from portraitkit.io import sha256_file
from portraitkit.params import Params, load_params
from portraitkit.params.base import data_dump, execution_keys
from portraitkit.reports.identity import build_identity, params_digest
from tests.conftest import REPO, run_portraitkit

BIN = Path(sys.executable).parent
DVC = BIN / "dvc"


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


def _with_execution_settings_changed(params: Params) -> Params:
    """``params`` with every execution setting set to another valid value (data params untouched)."""
    raw = params.model_dump(mode="json")
    for key in execution_keys(params):
        *path, leaf = key.split(".")
        node = raw
        for part in path:
            node = node[part]
        value = node[leaf]
        if isinstance(value, bool):
            node[leaf] = not value
        elif isinstance(value, int):
            node[leaf] = value + 1
        elif key.endswith("device"):
            node[leaf] = "cpu" if value != "cpu" else "auto"
        elif key.endswith("address"):
            node[leaf] = "0.0.0.0" if value != "0.0.0.0" else "127.0.0.1"
        else:
            raise AssertionError(f"{key}: the test does not know another value for {value!r}")
    return Params.model_validate(raw)


def test_every_section_declares_its_workers_as_execution_settings():
    keys = execution_keys(Params())
    for section, model in Params().model_dump().items():
        if isinstance(model, dict) and "workers" in model:
            assert f"{section}.workers" in keys
    other = _with_execution_settings_changed(Params())
    assert other != Params() and data_dump(other) == data_dump(Params())
    assert params_digest(other) == params_digest(Params())
    # a data param does change the digest (the comparison above can fail)
    assert params_digest(Params(curate={"min_coverage": 0.25})) != params_digest(Params())


def test_workers_change_neither_outputs_nor_fingerprint(stage_outputs, tmp_path):
    """The session pipeline ran every stage with --workers 1; the same stages with --workers 2
    (and a params file whose every execution setting differs) write the same bytes."""
    s = stage_outputs
    params2 = tmp_path / "params.yaml"
    p1 = load_params(s.params)
    p2 = _with_execution_settings_changed(p1)
    params2.write_text(yaml.safe_dump(p2.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    out = {name: tmp_path / name for name in ("curated", "flags", "clicks", "augmented")}
    run_portraitkit("curate", "--annotations", s.annotations, "--keypoints", s.keypoints, "--images", s.images,
                    "--masks", "--out", out["curated"], "--workers", 2, "--params", params2)
    run_portraitkit("flag", "--curated", out["curated"], "--images", s.images, "--out", out["flags"],
                    "--workers", 2, "--params", params2)
    run_portraitkit("clicks", "--curated", out["curated"], "--out", out["clicks"], "--sets", 2, "--workers", 2,
                    "--params", params2)
    run_portraitkit("augment", "--curated", out["curated"], "--images", s.images, "--clicks", out["clicks"],
                    "--out", out["augmented"], "--variants", 2, "--workers", 2, "--params", params2)

    first = {"curated": s.curated, "flags": s.flags, "clicks": s.clicks, "augmented": s.augmented}
    for name, folder in first.items():
        a, b = _files(folder), _files(out[name])
        assert a, f"{name}: the session pipeline wrote nothing"
        differing = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        assert not differing, f"{name}: workers 1 and 2 differ in {differing}"

    ident = json.loads((s.curated / "identity.json").read_text(encoding="utf-8"))
    assert "workers" not in ident["params"]["curate"]
    one = build_identity(p1, ident, first)
    two = build_identity(p2, json.loads((out["curated"] / "identity.json").read_text(encoding="utf-8")), out)
    assert one.fingerprint == two.fingerprint and one.params_digest == two.params_digest
    assert "workers" not in one.params_json and "threads" not in one.params_json
    # a changed data param is a different dataset
    changed = p1.model_copy(update={"seed": p1.seed + 1})
    assert build_identity(changed, ident, first).fingerprint != one.fingerprint


# --- dvc.yaml -------------------------------------------------------------------------------


def _dvc_stages(root: Path):
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        for stage in repo.index.stages:
            params = [k for d in stage.deps if isinstance(d, ParamsDependency) for k in d.params]
            paths = [d.def_path for d in stage.deps if not isinstance(d, ParamsDependency)]
            yield stage.addressing, stage.cmd, params, paths


def test_dvc_stages_track_every_data_key_and_no_execution_setting():
    defaults = Params()
    execution = set(execution_keys(defaults))
    sections = {name for name, v in defaults.model_dump().items() if isinstance(v, dict)}
    data = data_dump(defaults)
    for stage, _, keys, _ in _dvc_stages(REPO):
        assert keys, f"{stage}: tracks no params"
        for key in keys:
            assert key not in execution, f"{stage}: tracks the execution setting {key}"
            inside = [e for e in execution if e.startswith(key + ".")]
            assert not inside, f"{stage}: tracks {key} as a whole, execution settings {inside} included"
            assert key.split(".")[0] in data, f"{stage}: tracks {key}, which is not in the params schema"
        for section in sections & {k.split(".")[0] for k in keys}:
            if section in keys:
                continue
            listed = {k.split(".")[1] for k in keys if k.startswith(section + ".")}
            missing = sorted(set(data[section]) - listed)
            assert not missing, f"{stage}: tracks part of {section} but not {missing}"


def _command_module(cmd: str) -> str:
    """The module whose function runs ``portraitkit <command> ...`` (a stage's cmd)."""
    import typer.main

    from portraitkit.cli import app

    words = cmd.split()
    assert words[0] == "portraitkit", cmd
    command = typer.main.get_command(app)
    for word in words[1:]:
        sub = getattr(command, "commands", {}).get(word)
        if sub is None:
            break
        command = sub
    return command.callback.__module__


def _imported_packages(folder: Path) -> set[str]:
    found = set()
    for f in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                parts = name.split(".")
                if parts[0] == "portraitkit":
                    found.add(parts[1] if len(parts) > 1 and (REPO / parts[1]).is_dir() else "portraitkit")
    return found


def test_dvc_code_deps_are_whole_packages_with_everything_they_import():
    for stage, cmd, _, paths in _dvc_stages(REPO):
        module = _command_module(cmd)
        own = module.split(".")[1] if module.count(".") >= 2 else "portraitkit"
        needed = {own, "portraitkit"}
        todo = [own]
        while todo:  # what the stage's package imports, and what those import
            for pkg in _imported_packages(REPO / todo.pop()) - needed:
                needed.add(pkg)
                todo.append(pkg)
        code = {p for p in paths if (REPO / p).is_dir() and (REPO / p / "__init__.py").exists()}
        assert needed <= code, f"{stage} ({module}): code deps {sorted(code)}, but it imports {sorted(needed)}"
        single_files = [p for p in paths if p.endswith(".py")]
        assert not single_files, f"{stage}: depends on single files {single_files}; depend on the package"


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_changing_execution_settings_leaves_dvc_status_clean(tmp_path):
    """A real DVC repository: run the data stages, change every execution setting in params.yaml,
    and `dvc status` has nothing to rerun; change a data param and it has."""
    repo = tmp_path / "repo"
    repo.mkdir()
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.split()
    for f in files:
        if (REPO / f).is_file() and not f.startswith(("tests/", "bench/", "docs/")):
            (repo / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, repo / f)
    (repo / "dvc.lock").unlink(missing_ok=True)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PORTRAITKIT_QUIET": "1",
           "DVC_NO_ANALYTICS": "1"}

    def run(*cmd: str) -> str:
        proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout + proc.stderr

    params = Params().model_dump(mode="json")
    params["demo"]["images"] = 8
    params["augment"]["variants"] = 1
    params["clicks"]["sets_per_strategy"] = 1
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    run("git", "init", "-q")
    run("git", "add", "-A")
    run("git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init")
    stages = ["demo-data", "curate", "flag", "clicks", "augment"]
    run(str(DVC), "repro", *stages)
    assert "up to date" in run(str(DVC), "status", *stages)

    changed = _with_execution_settings_changed(Params.model_validate(params))
    (repo / "params.yaml").write_text(yaml.safe_dump(changed.model_dump(mode="json"), sort_keys=False),
                                      encoding="utf-8")
    status = run(str(DVC), "status", *stages)
    assert "up to date" in status, f"execution settings made DVC stages dirty:\n{status}"

    params["curate"]["min_coverage"] = 0.25
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    status = run(str(DVC), "status", *stages)
    assert "curate.min_coverage" in status and "up to date" not in status
