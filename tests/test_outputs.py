"""portraitkit.outputs: a stage never destroys what a user owns, and survives any interruption.

The interruption tests run a real Python process that writes its output inside ``stage_output``
and stops at a seam (inside the body, between the two renames of the fallback swap, after the
swap) until the test sends it a real signal (SIGINT, SIGTERM, SIGKILL) with ``os.kill``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from portraitkit.errors import UserError
from portraitkit.outputs import (
    FILE_KEY,
    MARKER,
    OLD_SUFFIX,
    TMP_INFIX,
    check_file_output,
    check_output,
    stage_json,
    stage_output,
)

STAGE = "demo-stage"
BIG = 4 << 20  # the killed run's temp folder holds a few MB, like a real stage's

WRITER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from portraitkit import outputs

    out, seam, swap, flags = sys.argv[1:5]
    flags = Path(flags)
    outputs._FORCE_FALLBACK = swap == "fallback"

    def stop(name):
        if name != seam:
            return
        (flags / f"at-{name}").write_text(str(os.getpid()))
        while not (flags / "go").exists():  # wait for the test's signal (or its go-ahead)
            time.sleep(0.01)

    outputs._between_renames = lambda: stop("between")
    outputs._after_swap = lambda: stop("after_swap")
    try:
        with outputs.stage_output(out, "demo-stage") as tmp:
            (tmp / "result.txt").write_text("new\\n")
            (tmp / "sub").mkdir()
            (tmp / "sub" / "big.bin").write_bytes(b"n" * int(os.environ["BIG"]))
            if os.environ.get("FORK"):  # a pool worker forked inside the block
                child = os.fork()
                if child == 0:
                    time.sleep(3600)
                    os._exit(0)
                (flags / "child").write_text(str(child))
            stop("body")
    except KeyboardInterrupt:
        sys.exit(130)
    print("done")
    """
)


def _previous(out: Path) -> None:
    """A good output of the same stage (what an interrupted run must leave intact)."""
    with stage_output(out, STAGE) as tmp:
        (tmp / "result.txt").write_text("old\n")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "big.bin").write_bytes(b"o" * 1000)


def _content(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _leftovers(parent: Path, name: str) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}."))


def _start(tmp_path: Path, out: Path, seam: str, swap: str, **env: str) -> tuple[subprocess.Popen, Path]:
    flags = tmp_path / "flags"
    flags.mkdir(exist_ok=True)
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    with open(flags / "stderr.txt", "w") as err:  # a file, not a pipe: a forked child may keep a pipe open
        proc = subprocess.Popen(
            [sys.executable, str(script), str(out), seam, swap, str(flags)],
            env={**os.environ, "BIG": str(BIG), **env}, stdout=subprocess.DEVNULL, stderr=err,
        )
    proc.err_path = flags / "stderr.txt"
    at = flags / f"at-{seam}"
    deadline = time.monotonic() + 120  # a readiness wait, not a timing assert
    while not at.exists():
        if proc.poll() is not None:
            pytest.fail(f"writer exited {proc.returncode} before reaching {seam}: {proc.err_path.read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"writer never reached {seam}")
        time.sleep(0.01)
    return proc, flags


def _finish(proc: subprocess.Popen) -> tuple[int, str]:
    proc.wait(timeout=120)
    return proc.returncode, proc.err_path.read_text()


@pytest.mark.parametrize("swap", ["exchange", "fallback"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["INT", "TERM", "KILL"])
def test_signal_during_the_work_leaves_the_previous_output(tmp_path, sig, swap):
    out = tmp_path / "work" / "out"
    _previous(out)
    before = _content(out)
    proc, _ = _start(tmp_path, out, "body", swap)
    temps = _leftovers(out.parent, "out")
    assert len(temps) == 1 and TMP_INFIX in temps[0]  # the live run's temp folder, tens of MB
    os.kill(proc.pid, sig)
    rc, err = _finish(proc)
    assert rc == {signal.SIGINT: 130, signal.SIGTERM: 128 + signal.SIGTERM, signal.SIGKILL: -signal.SIGKILL}[sig], err
    assert _content(out) == before
    left = _leftovers(out.parent, "out")
    if sig == signal.SIGKILL:
        assert left == temps  # nobody could clean up: the next run does
        check_output(out, STAGE)
        assert _leftovers(out.parent, "out") == []
    else:
        assert left == []  # Ctrl-C / SIGTERM unwind and remove the temp folder themselves
    assert _content(out) == before


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("seam,swap", [("between", "fallback"), ("after_swap", "exchange"), ("after_swap", "fallback")])
def test_ctrl_c_and_sigterm_wait_for_the_swap_to_finish(tmp_path, sig, seam, swap):
    out = tmp_path / "work" / "out"
    _previous(out)
    proc, flags = _start(tmp_path, out, seam, swap)
    os.kill(proc.pid, sig)
    time.sleep(0.2)  # give a handler the chance to (wrongly) run before the swap ends; no assert on time
    assert proc.poll() is None, "the signal interrupted the swap"
    (flags / "go").write_text("")
    rc, err = _finish(proc)
    assert rc == (130 if sig == signal.SIGINT else 128 + signal.SIGTERM), err  # delivered after the swap
    assert (out / "result.txt").read_text() == "new\n" and (out / "sub" / "big.bin").stat().st_size == BIG
    assert _leftovers(out.parent, "out") == []


@pytest.mark.parametrize("seam,swap", [("between", "fallback"), ("after_swap", "exchange"), ("after_swap", "fallback")])
def test_sigkill_inside_the_swap_loses_nothing(tmp_path, seam, swap):
    out = tmp_path / "work" / "out"
    _previous(out)
    before = _content(out)
    proc, _ = _start(tmp_path, out, seam, swap)
    os.kill(proc.pid, signal.SIGKILL)
    assert _finish(proc)[0] == -signal.SIGKILL
    if seam == "between":
        # the previous output is whole, under its -old name, until the next run puts it back
        assert not out.exists() and _content(out.parent / f".out{OLD_SUFFIX}") == before
        check_output(out, STAGE)
        assert _content(out) == before
    else:
        # the new output is in place; the previous one waits (ours, dead) for the next run
        assert (out / "result.txt").read_text() == "new\n" and (out / "sub" / "big.bin").stat().st_size == BIG
        assert _leftovers(out.parent, "out")
        check_output(out, STAGE)
    assert _leftovers(out.parent, "out") == []
    # and the next run writes normally
    with stage_output(out, STAGE) as tmp:
        (tmp / "result.txt").write_text("next\n")
    assert _content(out) == {MARKER: json.dumps({"stage": STAGE}).encode() + b"\n", "result.txt": b"next\n"}
    assert _leftovers(out.parent, "out") == []


def test_a_live_runs_temp_folder_is_not_removed(tmp_path):
    out = tmp_path / "work" / "out"
    _previous(out)
    proc, flags = _start(tmp_path, out, "body", "exchange")
    try:
        temps = _leftovers(out.parent, "out")
        check_output(out, STAGE)  # another run's recovery: the temp folder is locked by a live process
        assert _leftovers(out.parent, "out") == temps
    finally:
        (flags / "go").write_text("")
    assert _finish(proc)[0] == 0
    assert (out / "result.txt").read_text() == "new\n" and _leftovers(out.parent, "out") == []


def test_an_orphaned_forked_child_does_not_keep_a_killed_run_alive(tmp_path):
    out = tmp_path / "work" / "out"
    _previous(out)
    before = _content(out)
    proc, flags = _start(tmp_path, out, "body", "exchange", FORK="1")
    child = int((flags / "child").read_text())
    try:
        os.kill(proc.pid, signal.SIGKILL)
        assert _finish(proc)[0] == -signal.SIGKILL
        os.kill(child, 0)  # the orphan is still running
        assert _leftovers(out.parent, "out")
        check_output(out, STAGE)
        assert _leftovers(out.parent, "out") == [] and _content(out) == before
    finally:
        os.kill(child, signal.SIGKILL)


def test_a_partly_removed_dead_temp_folder_is_still_cleaned(tmp_path):
    """A SIGKILL during the removal of a temp folder leaves its marker (removed last)."""
    out = tmp_path / "out"
    dead = tmp_path / f".out{TMP_INFIX}999999-deadbeef"
    dead.mkdir()
    (dead / MARKER).write_text(json.dumps({"stage": STAGE}))
    (dead / "half.bin").write_bytes(b"x" * 100)
    foreign = tmp_path / f".out{TMP_INFIX}1-user"  # our name, but no marker and not empty: not ours
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    check_output(out, STAGE)
    assert not dead.exists() and (foreign / "notes.txt").read_text() == "mine"


def test_an_exception_leaves_the_previous_output(tmp_path):
    out = tmp_path / "out"
    _previous(out)
    before = _content(out)
    with pytest.raises(RuntimeError):
        with stage_output(out, STAGE) as tmp:
            (tmp / "result.txt").write_text("half")
            raise RuntimeError("boom")
    assert _content(out) == before and _leftovers(tmp_path, "out") == []


def test_replaces_its_own_output_and_an_empty_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with stage_output(out, STAGE) as tmp:
        (tmp / "a.txt").write_text("1")
    with stage_output(out, STAGE) as tmp:
        (tmp / "b.txt").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "b.txt"]
    assert json.loads((out / MARKER).read_text()) == {"stage": STAGE}
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------- refusals


def _refused(out, *inputs, match: str, stage: str = STAGE) -> None:
    with pytest.raises(UserError, match=match) as info:
        check_output(out, stage, inputs)
    assert "\n" not in str(info.value) and str(out) in str(info.value)
    with pytest.raises(UserError, match=match):
        with stage_output(out, stage, inputs) as tmp:
            (tmp / "x").write_text("x")


def test_a_users_folder_is_refused_and_untouched(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("four years of work")
    _refused(precious, match="did not write")
    assert [p.name for p in tmp_path.iterdir()] == ["precious"]
    assert [p.name for p in precious.iterdir()] == ["thesis.txt"]
    assert (precious / "thesis.txt").read_text() == "four years of work"


def test_another_stages_output_is_refused(tmp_path):
    out = tmp_path / "out"
    with stage_output(out, "curate") as tmp:
        (tmp / "manifest.parquet").write_text("x")
    _refused(out, match="written by `portraitkit curate`")
    assert (out / "manifest.parquet").read_text() == "x"


def test_the_current_folder_and_its_ancestors_are_refused(tmp_path, monkeypatch):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    _refused(".", match="current folder")
    _refused("..", match="contains the current folder")
    _refused(tmp_path, match="contains the current folder")
    assert list(work.iterdir()) == []


def test_a_repository_root_is_refused(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    _refused(repo, match="repository root")
    dvc_only = tmp_path / "dvc"
    dvc_only.mkdir()
    (dvc_only / "dvc.yaml").write_text("stages: {}\n")
    _refused(dvc_only, match="repository root")


def test_an_existing_file_is_refused(tmp_path):
    f = tmp_path / "notes.md"
    f.write_text("mine")
    _refused(f, match="existing file")
    assert f.read_text() == "mine" and [p.name for p in tmp_path.iterdir()] == ["notes.md"]


def test_inputs_are_never_the_output(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    (images / "a.jpg").write_bytes(b"jpg")
    annotations = tmp_path / "ann" / "instances.json"
    annotations.parent.mkdir()
    annotations.write_text("{}")
    _refused(images, images, match="is the input")
    _refused(images / "sub", images, match="inside the input")
    _refused(annotations.parent, annotations, match="contains the input")
    _refused(tmp_path, images, match="contains the input")
    assert (images / "a.jpg").read_bytes() == b"jpg" and annotations.read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ann", "images"]
    # an input in a sibling folder is fine; None inputs (options not given) are skipped
    check_output(tmp_path / "out", STAGE, [images, annotations, None])


def test_a_parent_that_is_a_file_is_refused(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    _refused(f / "out", match="is a file")
    _refused(f / "deeper" / "out", match="is a file")
    assert f.read_text() == "x"


def test_a_read_only_parent_is_refused(tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    if os.geteuid() == 0:  # root writes through chmod: make the folder immutable instead
        if shutil.which("chattr") is None:
            pytest.skip("running as root and chattr is missing: no read-only folder can be made")
        done = subprocess.run(["chattr", "+i", str(parent)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"running as root and chattr +i failed: {done.stderr.strip()}")
    else:
        parent.chmod(0o555)
    try:
        _refused(parent / "out", match="cannot write")
        _refused(parent / "deeper" / "out", match="cannot write")
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(parent)], check=True)
        parent.chmod(0o755)
    assert list(parent.iterdir()) == []


def test_a_folder_that_appears_during_the_work_is_not_replaced(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(UserError, match="did not write"):
        with stage_output(out, STAGE) as tmp:
            (tmp / "x").write_text("x")
            out.mkdir()
            (out / "thesis.txt").write_text("mine")
    assert [p.name for p in out.iterdir()] == ["thesis.txt"] and _leftovers(tmp_path, "out") == []


# ---------------------------------------------------------------- single files


def test_single_file_outputs(tmp_path):
    foreign = tmp_path / "metrics.json"
    foreign.write_text('{"accuracy": 0.9}')
    with pytest.raises(UserError, match="not written by `portraitkit report`"):
        check_file_output(foreign, "report", option="--metrics")
    other = tmp_path / "other.json"
    other.write_text(json.dumps(stage_json("train", {"a": 1})))
    with pytest.raises(UserError, match="not written"):
        check_file_output(other, "report", option="--metrics")
    with pytest.raises(UserError, match="is a folder"):
        check_file_output(tmp_path, "report", option="--metrics")
    with pytest.raises(UserError, match="is the input"):
        check_file_output(foreign, "report", [foreign], option="--metrics")
    ours = tmp_path / "ours.json"
    ours.write_text(json.dumps(stage_json("report", {"a": 1})))
    assert check_file_output(ours, "report", option="--metrics") == ours.resolve()
    assert check_file_output(tmp_path / "new.json", "report", option="--metrics") == (tmp_path / "new.json").resolve()
    assert list(stage_json("report", {"b": 2, FILE_KEY: "x"})) == [FILE_KEY, "b"]
    assert foreign.read_text() == '{"accuracy": 0.9}'


# ---------------------------------------------------------------- the stages' commands (real CLI, real outputs)


def _cli(*args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "portraitkit", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, "PORTRAITKIT_QUIET": "1"}, timeout=300)


def _refused_cli(res: subprocess.CompletedProcess, option_and_path: str, match: str) -> None:
    assert res.returncode == 2, res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in res.stderr, res.stderr
    assert errors[0].startswith(f"error: {option_and_path}: ") and match in errors[0], errors[0]
    # refused before any work: nothing but the params line came before the error
    assert [line for line in res.stderr.splitlines() if not line.startswith(("params:", "error:"))] == [], res.stderr


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_cli_curate_refuses_the_folder_of_its_annotations_the_current_folder_and_a_file(stage_outputs, tmp_path):
    ann = tmp_path / "annotations"
    shutil.copytree(stage_outputs.annotations.parent, ann)
    before = _tree(ann)
    res = _cli("curate", "--annotations", ann / "instances.json", "--keypoints", ann / "person_keypoints.json",
               "--out", ann, "--params", stage_outputs.params)
    _refused_cli(res, f"--out {ann}", "contains the input")
    assert _tree(ann) == before and sorted(p.name for p in tmp_path.iterdir()) == ["annotations"]
    res = _cli("curate", "--annotations", ann / "instances.json", "--out", ".", "--params", stage_outputs.params, cwd=ann)
    _refused_cli(res, "--out .", "current folder")
    res = _cli("curate", "--annotations", ann / "instances.json", "--out", ann / "person_keypoints.json",
               "--params", stage_outputs.params)
    _refused_cli(res, f"--out {ann / 'person_keypoints.json'}", "existing file")
    assert _tree(ann) == before and sorted(p.name for p in tmp_path.iterdir()) == ["annotations"]


def test_cli_clicks_refuses_a_users_folder(stage_outputs, tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("four years of work")
    res = _cli("clicks", "--curated", stage_outputs.curated, "--out", precious, "--params", stage_outputs.params)
    _refused_cli(res, f"--out {precious}", "did not write")
    assert _tree(precious) == {"thesis.txt": b"four years of work"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious"]
    # and another stage's output is not clicks' to replace either
    res = _cli("clicks", "--curated", stage_outputs.curated, "--out", stage_outputs.flags, "--params", stage_outputs.params)
    _refused_cli(res, f"--out {stage_outputs.flags}", "written by `portraitkit flag`")


def test_cli_flag_refuses_its_curated_folder(stage_outputs, tmp_path):
    curated = tmp_path / "curated"
    shutil.copytree(stage_outputs.curated, curated)
    before = _tree(curated)
    res = _cli("flag", "--curated", curated, "--images", stage_outputs.images, "--out", curated,
               "--params", stage_outputs.params)
    _refused_cli(res, f"--out {curated}", "is the input")
    assert _tree(curated) == before


def test_cli_augment_refuses_its_images_folder(stage_outputs, tmp_path):
    images = tmp_path / "images"
    shutil.copytree(stage_outputs.images, images)
    before = _tree(images)
    assert len(before) == 16
    res = _cli("augment", "--curated", stage_outputs.curated, "--images", images, "--clicks", stage_outputs.clicks,
               "--out", images, "--params", stage_outputs.params)
    _refused_cli(res, f"--out {images}", "is the input")
    res = _cli("augment", "--curated", stage_outputs.curated, "--images", images, "--out", images / "augmented",
               "--params", stage_outputs.params)
    _refused_cli(res, f"--out {images / 'augmented'}", "inside the input")
    assert _tree(images) == before and sorted(p.name for p in tmp_path.iterdir()) == ["images"]


def test_cli_augment_rerun_replaces_its_own_output(stage_outputs, tmp_path):
    out = tmp_path / "augmented"
    args = ("augment", "--curated", stage_outputs.curated, "--images", stage_outputs.images, "--out", out,
            "--variants", 1, "--workers", 1, "--params", stage_outputs.params)
    first = _cli(*args)
    assert first.returncode == 0, first.stderr
    (out / "stale.txt").write_text("from the first run")  # inside its own output: replaced with it
    again = _cli(*args)
    assert again.returncode == 0, again.stderr
    assert not (out / "stale.txt").exists() and json.loads((out / MARKER).read_text()) == {"stage": "augment"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["augmented"]


def test_cli_report_metrics_replaces_only_its_own_file(stage_outputs, tmp_path):
    metrics = tmp_path / "metrics.json"
    metrics.write_text('{"my_accuracy": 0.93}\n')
    common = ("report", "--curated", stage_outputs.curated, "--flags", stage_outputs.flags, "--clicks",
              stage_outputs.clicks, "--augmented", stage_outputs.augmented, "--images", stage_outputs.images,
              "--params", stage_outputs.params)
    res = _cli(*common, "--out", tmp_path / "site", "--metrics", metrics)
    _refused_cli(res, f"--metrics {metrics}", "not written by `portraitkit report`")
    assert metrics.read_text() == '{"my_accuracy": 0.93}\n' and not (tmp_path / "site").exists()
    ours = tmp_path / "ours.json"
    for _ in range(2):  # written, then replaced: it carries the stage's key
        res = _cli(*common, "--out", tmp_path / "site", "--metrics", ours)
        assert res.returncode == 0, res.stderr
        assert json.loads(ours.read_text())[FILE_KEY] == "report"
    res = _cli(*common, "--out", tmp_path / "site", "--metrics", tmp_path / "site")
    _refused_cli(res, f"--out {tmp_path / 'site'}", "is the input")  # --metrics = --out: refused before work


def test_cli_review_pull_out_must_be_a_file(tmp_path):
    folder = tmp_path / "reviews"
    folder.mkdir()
    res = _cli("review", "pull", "--out", folder, cwd=tmp_path)
    _refused_cli(res, f"--out {folder}", "is a folder")
    notes = tmp_path / "notes.csv"
    notes.write_text("name,grade\nann,5\n")
    res = _cli("review", "pull", "--out", notes, "--replace", cwd=tmp_path)
    _refused_cli(res, f"--out {notes}", "not written by")
    assert notes.read_text() == "name,grade\nann,5\n"


def test_review_build_receipt_replaces_only_its_own_file(stage_outputs, tmp_path):
    from portraitkit.annotate.review.build import build

    foreign = tmp_path / "receipt.json"
    foreign.write_text('{"mine": true}\n')
    with pytest.raises(UserError, match="--receipt .*not written by `portraitkit review build`"):
        build("never-built", stage_outputs.curated, stage_outputs.images, receipt=foreign)
    with pytest.raises(UserError, match="--receipt .*is a folder"):
        build("never-built", stage_outputs.curated, stage_outputs.images, receipt=tmp_path)
    assert foreign.read_text() == '{"mine": true}\n'


def test_ctrl_c_in_a_real_command_says_interrupted_and_leaves_nothing(tmp_path):
    """Ctrl-C during ``portraitkit demo-data``: exit 130, one line "interrupted", no traceback, no output and
    no temp folder left (typer swallows KeyboardInterrupt into a silent exit, which once hid the message)."""
    out = tmp_path / "demo"
    proc = subprocess.Popen([sys.executable, "-m", "portraitkit", "demo-data", "--out", str(out), "--images", "4000"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(f".demo{TMP_INFIX}*")):  # the command is at work
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == "interrupted", err
    assert not out.exists()
    assert not list(tmp_path.glob(f".demo{TMP_INFIX}*"))
