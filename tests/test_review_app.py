"""The FiftyOne App serves a review dataset: headless Chromium sees its samples render, and
``portraitkit review app`` stops cleanly (App server and its children gone) on Ctrl-C and SIGTERM.

The screenshot is kept as ``test-artifacts/review_app.png``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote

import psutil
import pytest

from tests.review_fixtures import REPO, free_port, make_tiny_data, mongo_env  # noqa: F401 - fixture

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

pytestmark = pytest.mark.mongo


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class _Lines:
    """Collects a child's output lines in a thread, so the pipe never fills up."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._t = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._t.start()

    def _read(self, stream):
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float, proc: subprocess.Popen) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if m := re.search(pattern, line):
                    return m
            if proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"no line matching {pattern!r}; output:\n" + "\n".join(self.lines))


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium")
def test_app_renders_samples_and_stops_on_ctrl_c(mongo_env, tmp_path):
    from playwright.sync_api import sync_playwright

    from portraitkit.annotate.review.build import build

    from portraitkit.curate.demo import generate
    from portraitkit.curate.stage import run_curate
    from portraitkit.params import load_params

    demo, curated = tmp_path / "demo", tmp_path / "curated"
    generate(demo, 16, 7)
    params = load_params(None)
    run_curate(demo / "annotations" / "instances.json", curated, params.curate, params.seed,
               keypoints=demo / "annotations" / "person_keypoints.json", images_dir=demo / "images",
               write_masks=True)
    build("rv-app", curated, demo / "images")
    import fiftyone as fo

    kept_files = fo.load_dataset("rv-app").values("file_name")
    n = len(kept_files)
    assert n >= 3

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "portraitkit.cli", "review", "app", "--name", "rv-app", "--port", str(port)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ),
    )
    out = _Lines(proc.stdout)
    try:
        url = out.wait_for(r"(http://127\.0\.0\.1:\d+/)", timeout=180, proc=proc).group(1)
        assert url == f"http://127.0.0.1:{port}/"
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "review_app.png"
        media_ok: set[str] = set()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 900})

            def on_response(resp):
                if "/media?" in resp.url and resp.status == 200:
                    m = re.search(r"filepath=([^&]+)", resp.url)
                    if m:
                        media_ok.add(Path(unquote(m.group(1))).name)

            page.on("response", on_response)
            page.goto(url + "datasets/rv-app", wait_until="domcontentloaded", timeout=120_000)
            # the sample count in the header and every image fetched by the grid's lookers
            page.get_by_text(re.compile(rf"\b{n}\s+samples?\b")).first.wait_for(timeout=120_000)
            deadline = time.monotonic() + 120
            want = set(kept_files)
            while time.monotonic() < deadline and not want <= media_ok:
                page.wait_for_timeout(500)
            dismiss = page.get_by_text("Dismiss", exact=True)
            if dismiss.count():
                dismiss.first.click()  # FiftyOne's advertisement covers part of the grid
            page.wait_for_timeout(2000)  # let the lookers paint masks over the images
            page.screenshot(path=str(shot), full_page=False)
            canvases = page.locator("canvas").count()
            browser.close()
        assert want <= media_ok, f"images the App fetched: {sorted(media_ok)}"
        assert canvases >= n or shot.stat().st_size > 20_000
        assert shot.stat().st_size > 10_000
    finally:
        rc, kids = _stop(proc, signal.SIGINT)  # what Ctrl-C sends
    _assert_stopped(rc, out, port, kids)


def _stop(proc: subprocess.Popen, sig: int) -> tuple[int, list]:
    """Send ``sig`` to a still running App; its exit code and the children it had then."""
    kids = psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None else []
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=60), kids
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def _assert_stopped(rc: int, out: _Lines, port: int, kids: list) -> None:
    assert rc == 0, "\n".join(out.lines)
    assert any("stopping the App" in line for line in out.lines)
    deadline = time.monotonic() + 30
    while _port_open(port) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _port_open(port), "the App server still listens after the stop signal"
    _, alive = psutil.wait_procs(kids, timeout=30)
    for p in alive:  # the App's own children: never leave them behind
        p.kill()
    assert not alive, f"still running after the stop signal: {[p.cmdline() for p in alive]}"


def test_app_stops_on_sigterm(mongo_env, tmp_path):
    from portraitkit.annotate.review.build import build

    data = make_tiny_data(tmp_path / "d", n_images=2)
    build("rv-term", data.curated, data.images)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "portraitkit.cli", "review", "app", "--name", "rv-term", "--port", str(port),
         "--view", "split-train"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ),
    )
    out = _Lines(proc.stdout)
    try:
        out.wait_for(r"press Ctrl-C to stop", timeout=180, proc=proc)
        assert any("view 'split-train' of dataset 'rv-term'" in line for line in out.lines), out.lines
        assert _port_open(port)
    finally:
        rc, kids = _stop(proc, signal.SIGTERM)
    _assert_stopped(rc, out, port, kids)
