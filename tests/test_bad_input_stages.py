"""Bad input to the later stages and to params: one-line errors naming the file, no traceback (issue 11)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from portraitkit.errors import UserError
from portraitkit.io import read_parquet
from portraitkit.params import load_params


def test_corrupt_parquet_is_one_line_error(tmp_path):
    path = tmp_path / "manifest.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(UserError, match=r"manifest.parquet: not a readable Parquet file"):
        read_parquet(path)


@pytest.mark.parametrize("value", ["-5", str(10**30), "true"])
def test_seed_must_be_a_non_negative_int64(tmp_path, value):
    path = tmp_path / "params.yaml"
    path.write_text(f"seed: {value}\n")
    with pytest.raises(UserError, match=r"params.yaml: seed"):
        load_params(path)


def test_bad_seed_in_augment_cli_has_no_traceback(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: -5\n")
    proc = subprocess.run(
        [sys.executable, "-m", "portraitkit", "augment", "--curated", str(tmp_path), "--images", str(tmp_path),
         "--clicks", str(tmp_path), "--out", str(tmp_path / "o"), "--params", str(path)],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )
    assert proc.returncode == 2, proc.stderr[-1500:]
    assert "Traceback" not in proc.stderr and "seed" in proc.stderr


def test_review_prediction_png_that_is_not_binary_is_an_error(tmp_path):
    import cv2
    import numpy as np

    from portraitkit.annotate.review.build import _read_mask_png

    mask = np.zeros((8, 10), np.uint8)
    mask[2:6, 2:6] = 127  # 0/127: the old reader stored it as an empty mask
    path = tmp_path / "7.png"
    cv2.imwrite(str(path), mask)
    with pytest.raises(UserError, match=r"7.png: a mask must hold 0/1 or 0/255, this one holds 0, 127"):
        _read_mask_png(path, 8, 10)
    cv2.imwrite(str(path), (mask > 0).astype(np.uint8) * 255)
    assert _read_mask_png(path, 8, 10).max() == 255
