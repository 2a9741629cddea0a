"""The one decisions-CSV reader and writer (curate.reviews), used by curate, review build and review pull;
files that are not UTF-8 (decisions.csv, params.yaml) are one-line errors naming the file (issue 11)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from portraitkit.errors import UserError
from portraitkit.params import load_params

LATIN1 = "image_id,decision,note\n1,reject,caf\xe9 au lait\n".encode("latin-1")


def test_one_reader_and_writer_round_trip(tmp_path):
    from portraitkit.annotate.review import build, pull
    from portraitkit.curate import reviews

    rows = {12: ("reject", "coarse  outline\nleft arm"), 3: ("accept", ""), 7: ("reject", 'says "no", twice')}
    text = reviews.render_decisions(rows)
    assert text.splitlines()[0] == "image_id,decision,note"
    assert [line.split(",")[0] for line in text.splitlines()[1:]] == ["3", "7", "12"]  # sorted by image_id
    path = tmp_path / "decisions.csv"
    path.write_text(text, encoding="utf-8")
    want = {12: ("reject", "coarse outline left arm"), 3: ("accept", ""), 7: ("reject", 'says "no", twice')}
    assert reviews.read_decision_rows(path) == want
    assert reviews.read_decisions(path) == {12: "reject", 3: "accept", 7: "reject"}
    # review build and review pull use the very same functions
    assert build.read_decision_rows(path) == want and pull.read_existing(path) == want
    assert pull.render is reviews.render_decisions and pull.HEADER is reviews.HEADER
    # a BOM (Excel's "CSV UTF-8") is fine
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert reviews.read_decision_rows(path) == want


def test_latin1_decisions_is_one_line_error_naming_the_file(tmp_path):
    from portraitkit.annotate.review.build import read_decision_rows
    from portraitkit.curate.reviews import read_decisions

    path = tmp_path / "decisions.csv"
    path.write_bytes(LATIN1)
    for reader in (read_decisions, read_decision_rows):
        with pytest.raises(UserError) as err:
            reader(path)
        msg = str(err.value)
        assert msg.startswith(f"{path}: line 2: not UTF-8 text (byte 0xe9)") and "\n" not in msg


def test_latin1_params_is_one_line_error_naming_the_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_bytes("seed: 3\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"params.yaml: line 2: not UTF-8 text \(byte 0xe9\)"):
        load_params(path)


def test_cli_latin1_reviews_and_params_exit_2_without_traceback(tmp_path):
    from tests.coco_factory import CocoBuilder, rect_rle

    b = CocoBuilder()
    b.image(1)
    b.ann(1, rect_rle(100, 100, 0, 0, 50, 50))
    ann = b.write(tmp_path / "i.json")
    reviews = tmp_path / "decisions.csv"
    reviews.write_bytes(LATIN1)
    folder = tmp_path / "a_folder"
    folder.mkdir()
    params = tmp_path / "latin.yaml"  # not ./params.yaml, which every command would read
    params.write_bytes("seed: 3\n# caf\xe9\n".encode("latin-1"))
    for extra, name in ((["--reviews", reviews], "decisions.csv"), (["--params", params], "latin.yaml"),
                        (["--reviews", folder], "is a folder")):
        proc = subprocess.run(
            [sys.executable, "-m", "portraitkit", "curate", "--annotations", str(ann), "--out", str(tmp_path / "o"),
             *map(str, extra)],
            capture_output=True, text=True, cwd=tmp_path, timeout=120,
        )
        assert proc.returncode == 2, proc.stderr[-2000:]
        lines = [line for line in proc.stderr.splitlines() if not line.startswith("params: ")]
        assert "Traceback" not in proc.stderr and len(lines) == 1 and name in lines[0], proc.stderr[-2000:]
