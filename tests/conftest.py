"""Session fixtures shared by the test modules.

``stage_outputs``: the real pipeline (demo-data -> curate -> flag -> clicks -> augment), run once
per session through the real ``portraitkit`` CLI on a few demo images, into a temporary folder.
Tests of later stages (report, review, training, evaluation) read these outputs instead of
hand-written look-alikes, so they break when a stage's output changes in a way its readers miss.
Treat the folders as read-only (copy before changing anything).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: the fixture's demo set: 16 images of a seed that no threshold was tuned on
PIPELINE_IMAGES = 16
PIPELINE_SEED = 8


@dataclass(frozen=True)
class StageOutputs:
    """Where each stage of the session pipeline wrote its output."""

    root: Path
    params: Path
    demo: Path
    images: Path
    annotations: Path
    keypoints: Path
    curated: Path
    flags: Path
    clicks: Path
    augmented: Path


def run_portraitkit(*args: str) -> str:
    """Run one ``portraitkit`` command in-process through the real CLI; fail the test with its output."""
    from typer.testing import CliRunner

    from portraitkit.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args], env={"PORTRAITKIT_QUIET": "1"})
    if result.exit_code != 0:
        exc = result.exception
        raise AssertionError(f"portraitkit {' '.join(map(str, args))} exited {result.exit_code}: {exc!r}\n{result.output}")
    return result.output


def demo_out_args(out: Path) -> list:
    """``demo-data``'s folder: ``--out DIR`` like every stage (older versions: a plain argument)."""
    import inspect

    from typer.models import OptionInfo

    from portraitkit.curate.cli_demo import demo_data

    takes_option = isinstance(inspect.signature(demo_data).parameters["out"].default, OptionInfo)
    return ["--out", out] if takes_option else [out]


def _demo_data(out: Path, params: Path) -> None:
    run_portraitkit("demo-data", *demo_out_args(out), "--images", PIPELINE_IMAGES, "--seed", PIPELINE_SEED,
                    "--params", params)


def run_pipeline(root: Path, params: Path = REPO / "params.yaml") -> StageOutputs:
    """demo-data -> curate -> flag -> clicks -> augment into ``root`` (one process, workers 1)."""
    s = StageOutputs(
        root=root, params=params, demo=root / "demo", images=root / "demo" / "images",
        annotations=root / "demo" / "annotations" / "instances.json",
        keypoints=root / "demo" / "annotations" / "person_keypoints.json",
        curated=root / "curated", flags=root / "flags", clicks=root / "clicks", augmented=root / "augmented",
    )
    _demo_data(s.demo, params)
    run_portraitkit("curate", "--annotations", s.annotations, "--keypoints", s.keypoints, "--images", s.images,
                    "--masks", "--out", s.curated, "--workers", 1, "--params", params)
    run_portraitkit("flag", "--curated", s.curated, "--images", s.images, "--out", s.flags, "--workers", 1,
                    "--params", params)
    run_portraitkit("clicks", "--curated", s.curated, "--out", s.clicks, "--sets", 2, "--workers", 1,
                    "--params", params)
    run_portraitkit("augment", "--curated", s.curated, "--images", s.images, "--clicks", s.clicks,
                    "--out", s.augmented, "--variants", 2, "--workers", 1, "--params", params)
    return s


@pytest.fixture(scope="session")
def stage_outputs(tmp_path_factory) -> StageOutputs:
    """The real stages' outputs on 16 demo images (see the module docstring); read-only."""
    return run_pipeline(tmp_path_factory.mktemp("pipeline"))


#: markers of tests whose tools exist in CI (chromium, mongod, ../shared): skipping one there is a failure
CI_REQUIRED_MARKERS = ("browser", "mongo", "realdata")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With CI=true, a skipped browser / mongo / realdata test fails instead of passing quietly."""
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or os.environ.get("CI", "").lower() != "true":
        return
    marks = [m for m in CI_REQUIRED_MARKERS if item.get_closest_marker(m) is not None]
    if marks:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI ({', '.join(marks)} test): {reason}"
