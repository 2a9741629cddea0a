"""The wheel installs our stage packages under ``portraitkit.`` only: a user's own ``train.py`` or
``reports`` package beside it is never shadowed by ours, and ours load from the wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PROBE = """
import sys
user, wheel, site = sys.argv[1:4]
# python -I -S: no cwd, no PYTHONPATH, no .pth files (the editable install's finder stays off)
sys.path[:0] = [user, wheel, site]
import portraitkit.train, portraitkit.reports, portraitkit.curate.stage, portraitkit.cli
for mod in (portraitkit.train, portraitkit.reports, portraitkit.curate.stage, portraitkit.cli):
    assert mod.__file__.startswith(wheel), (mod.__name__, mod.__file__)
import train, reports
assert train.__file__.startswith(user) and reports.__file__.startswith(user), (train.__file__, reports.__file__)
assert train.MINE and reports.MINE
print("ok")
"""


def test_wheel_installs_under_the_namespace_beside_a_users_own_modules(tmp_path):
    # build from a copy of the tracked sources, so the build leaves nothing in the repository
    src = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.split()
    for f in files:
        if (REPO / f).is_file() and not f.startswith(("tests/", "bench/", "data/")):
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, src / f)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(dist), str(src)], check=True, capture_output=True, cwd=tmp_path)
    (wheel,) = dist.glob("portraitkit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"portraitkit"}, f"the wheel installs top-level {sorted(tops)}"
    assert any(n.startswith("portraitkit/reports/templates/") for n in names), "report templates missing"
    assert any(n.startswith("portraitkit/train/targets/") and n.endswith(".yaml") for n in names), \
        "train/targets/*.yaml missing"

    site_dir = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site_dir)
    user = tmp_path / "work"
    (user / "reports").mkdir(parents=True)
    (user / "train.py").write_text("MINE = True\n")
    (user / "reports" / "__init__.py").write_text("MINE = True\n")
    venv_site = sysconfig.get_paths()["purelib"]
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", PROBE, str(user), str(site_dir), venv_site],
                          capture_output=True, text=True, cwd=user)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr
