"""Bad input to flag, report, clicks and augment, and the CI skip rule (issue 11, the cases left over).

Each case below gave a traceback, a hang or a silent exit 0 on the code of 133e6e3. The commands run
as real ``portraitkit`` processes (with a timeout: a hang fails instead of stalling the suite).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from tests.conftest import StageOutputs

pytest_plugins = ["pytester"]


def portraitkit(*args, cwd: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "portraitkit", *map(str, args)], capture_output=True, text=True, cwd=cwd,
        timeout=timeout, env={**os.environ, "PORTRAITKIT_QUIET": "1"},
    )


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The one error line of a failed command (exit 2, no traceback)."""
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr[-3000:]
    return lines[0]


def _copy_curated(s: StageOutputs, dest: Path) -> Path:
    shutil.copytree(s.curated, dest)
    (dest / ".portraitkit-stage.json").unlink(missing_ok=True)  # a user's copy, not the stage's output
    return dest


# ----------------------------------------------------------------------------------------- flag

def test_flag_warns_about_missing_split_files(stage_outputs, tmp_path):
    curated = _copy_curated(stage_outputs, tmp_path / "curated")
    (curated / "val.json").unlink()
    proc = portraitkit("flag", "--curated", curated, "--images", stage_outputs.images, "--out", tmp_path / "f",
                       "--workers", 1, "--params", stage_outputs.params, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"warning: {curated}: no val.json: only the split files that exist were scored" in proc.stderr
    summary = json.loads((tmp_path / "f" / "summary.json").read_text())
    assert summary["warnings"] == [f"{curated}: no val.json: only the split files that exist were scored"]
    assert summary["splits"]["val"]["persons"] == 0 and summary["splits"]["train"]["persons"] > 0


def test_flag_images_folder_without_any_of_the_photos_is_an_error(stage_outputs, tmp_path):
    empty = tmp_path / "photos"
    empty.mkdir()
    (empty / "unrelated.jpg").write_bytes(b"x")
    proc = portraitkit("flag", "--curated", stage_outputs.curated, "--images", empty, "--out", tmp_path / "f",
                       "--params", stage_outputs.params, cwd=tmp_path)
    line = one_line_error(proc)
    assert f"{empty}: none of the" in line and "wrong --images folder?" in line
    assert not (tmp_path / "f").exists()


# --------------------------------------------------------------------------------------- report

@pytest.mark.parametrize("option", ["--curated", "--flags", "--clicks", "--augmented", "--images"])
def test_report_with_a_folder_that_does_not_exist_is_an_error(stage_outputs, tmp_path, option):
    proc = portraitkit("report", option, tmp_path / "nope", "--out", tmp_path / "site",
                       "--params", stage_outputs.params, cwd=tmp_path)
    assert one_line_error(proc) == f"error: {option} {tmp_path / 'nope'}: no such folder" + (
        " (the photos folder)" if option == "--images" else
        f" (the output folder of `portraitkit {dict(curated='curate', flags='flag', clicks='clicks', augmented='augment')[option[2:]]}`)"
    )
    assert not (tmp_path / "site").exists()


# --------------------------------------------------------------------------------------- clicks

CLICKS_CASES = {
    # curate's validation (curate.validate), now also where clicks reads a split file
    "depth-3 polygon": (lambda img, ann: ann.update(segmentation=[[[10, 10], [60, 10], [60, 90]]]),
                        "field 'segmentation[0]': expected a flat list of numbers"),
    "2-point polygon": (lambda img, ann: ann.update(segmentation=[[10, 10, 60, 10]]),
                        "field 'segmentation[0]': fewer than 3 points (2)"),
    "coordinates of 1e8": (lambda img, ann: ann.update(segmentation=[[1e8, 1, 5, 5, 9, 9e8]]),
                           "more than one image size outside"),
    "RLE garbage": (lambda img, ann: ann.update(segmentation={"size": [img["height"], img["width"]], "counts": "zz!"}),
                    "outside COCO's RLE alphabet"),
    "file name of 5000 characters": (lambda img, ann: img.update(file_name="a" * 5000 + ".jpg"),
                                     "field 'file_name' is 5004 characters long"),
    "negative image id": (lambda img, ann: img.update(id=-5),
                          "expected a non-negative integer (got -5)"),
}


@pytest.mark.parametrize("case", list(CLICKS_CASES))
def test_clicks_validates_records_like_curate(stage_outputs, tmp_path, case):
    mutate, expected = CLICKS_CASES[case]
    curated = _copy_curated(stage_outputs, tmp_path / "curated")
    coco = json.loads((curated / "train.json").read_text())
    ann = next(a for a in coco["annotations"] if a["category_id"] == 1 and not a.get("iscrowd"))
    img = next(i for i in coco["images"] if i["id"] == ann["image_id"])
    old_id = img["id"]
    mutate(img, ann)
    for other in coco["annotations"]:  # an image's new id moves its annotations with it
        if other["image_id"] == old_id:
            other["image_id"] = img["id"]
    (curated / "train.json").write_text(json.dumps(coco))
    proc = portraitkit("clicks", "--curated", curated, "--out", tmp_path / "c", "--workers", 1,
                       "--params", stage_outputs.params, cwd=tmp_path, timeout=90)
    line = one_line_error(proc)
    assert line.startswith(f"error: {curated / 'train.json'}: ") and expected in line, line


# -------------------------------------------------------------------------------------- augment

def _bomb_png(path: Path, width: int, height: int) -> None:
    """A tiny PNG whose header claims ``width`` x ``height``."""
    from PIL import Image

    Image.new("RGB", (4, 4)).save(path, format="PNG")
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))


def test_augment_quarantines_a_decompression_bomb_and_goes_on(stage_outputs, tmp_path):
    images = tmp_path / "images"
    shutil.copytree(stage_outputs.images, images)
    coco = json.loads((stage_outputs.curated / "train.json").read_text())
    victim = sorted(coco["images"], key=lambda i: i["id"])[0]
    _bomb_png(images / victim["file_name"], 100_000, 100_000)  # Pillow itself refuses this one at open
    out = tmp_path / "aug"
    proc = portraitkit("augment", "--curated", stage_outputs.curated, "--images", images, "--out", out,
                       "--variants", 1, "--workers", 1, "--params", stage_outputs.params, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (out / "log.txt").read_text()
    assert f"image {victim['id']} ({victim['file_name']}): skipped: cannot read image: image_too_large" in log
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images_skipped"] == 1 and summary["images_augmented"] == len(coco["images"]) - 1


# ---------------------------------------------------------------------------- the CI skip rule

def test_ci_turns_skipped_tool_tests_into_failures(pytester, monkeypatch):
    """tests/conftest.py's hook: with CI=true a skipped browser / mongo / realdata test fails."""
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makeini("[pytest]\nmarkers =\n    browser: b\n    mongo: m\n    realdata: r\n")
    pytester.makepyfile(test_tools="""
        import pytest

        @pytest.mark.browser
        def test_browser():
            pytest.skip("no chromium")

        @pytest.mark.realdata
        def test_realdata():
            pytest.skip("no ../shared/realdata")

        def test_plain_skip():
            pytest.skip("not a tool test")

        @pytest.mark.mongo
        def test_mongo_passes():
            pass
    """)
    monkeypatch.setenv("CI", "true")
    ci = pytester.runpytest("-p", "no:cacheprovider")
    ci.assert_outcomes(failed=2, skipped=1, passed=1)
    ci.stdout.fnmatch_lines(["*skipped in CI (browser test)*no chromium*"])
    monkeypatch.delenv("CI")
    local = pytester.runpytest("-p", "no:cacheprovider")
    local.assert_outcomes(skipped=3, passed=1)
