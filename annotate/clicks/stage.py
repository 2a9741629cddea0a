"""The ``clicks`` stage: K click sets per strategy for every person instance of the curated images.

Reads ``train.json``, ``val.json`` and ``test.json`` of the curated directory (the split of an
image is the file it is in) and writes, atomically:

- ``clicks.parquet``: one row per (instance, strategy, set): ``annotation_id, image_id, split,
  strategy, set_index, positives, negatives, n_pos_requested, n_neg_requested, shortfall,
  n_other_objects``;
  ``positives``/``negatives`` are lists of ``[x, y]`` pixel coordinates of the original image
  (x = column, y = row); ``shortfall`` = clicks requested - clicks produced (no valid point
  left: tiny or thin object, no other object in the image for strategy 2, ...);
  ``n_other_objects`` = annotations of the image other than this person.
- ``summary.json``: counts per split and strategy, and how many instances had too few valid points.

Masks come from the annotations (``curate.masks``); images are not read. The sets of one
(instance, strategy) come from one generator keyed by (seed, annotation id, strategy), so the
output is the same for any ``workers``. Workers return columnar :class:`SetBlock` s, turned
into one Arrow table at the end.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from portraitkit.annotate.clicks.decode import decode_cropped
from portraitkit.annotate.clicks.instance import ImageObjects
from portraitkit.annotate.clicks.sets import build_maps_from_crop, instance_set_lists
from portraitkit.errors import UserError
from portraitkit.curate.outputs import SPLITS, read_split
from portraitkit.curate.validate import image_problems, segmentation_problem
from portraitkit.io import read_parquet, write_json
from portraitkit.outputs import check_output, stage_output
from portraitkit.params import ClicksParams
from portraitkit.params.base import data_dump

COLUMNS = [
    "annotation_id", "image_id", "split", "strategy", "set_index", "positives", "negatives",
    "n_pos_requested", "n_neg_requested", "shortfall", "n_other_objects",
]

# One unit of work: (split, image record, all annotations of the image).
Task = tuple[str, dict[str, Any], list[dict[str, Any]]]


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise UserError(f"{where}: expected a non-negative integer (got {value!r})")
    return int(value)


def load_tasks(curated: Path, person_category_id: int) -> list[Task]:
    """Images holding at least one non-crowd person, with their annotations, in split then id order."""
    curated = Path(curated)
    if not curated.is_dir():
        raise UserError(f"{curated}: curated directory not found (did the curate stage run?)")
    tasks: list[Task] = []
    seen: dict[int, str] = {}
    for split in SPLITS:
        path = curated / f"{split}.json"
        data = read_split(path)
        images: dict[int, dict[str, Any]] = {}
        for img in data["images"]:
            iid = _int(img.get("id"), f"{path}: image {img.get('id')!r}: id")
            for key in ("width", "height"):
                if _int(img.get(key), f"{path}: image {iid}: {key}") == 0:
                    raise UserError(f"{path}: image {iid}: {key}: must be > 0")
            problems = image_problems(img)  # curate's validation: a hand-edited split file meets it too
            if problems:
                raise UserError(f"{path}: {problems[0]}")
            if iid in seen:
                raise UserError(f"{path}: image {iid}: also in {seen[iid]}.json (an image belongs to one split)")
            seen[iid] = split
            images[iid] = img
        by_image: dict[int, list[dict[str, Any]]] = {}
        for ann in data["annotations"]:
            aid = _int(ann.get("id"), f"{path}: annotation {ann.get('id')!r}: id")
            iid = ann.get("image_id")
            if iid not in images:
                raise UserError(f"{path}: annotation {aid}: image_id: {iid!r} is not an image of this file")
            if "segmentation" not in ann:
                raise UserError(f"{path}: annotation {aid}: segmentation: missing")
            img = images[iid]
            problem = segmentation_problem(ann["segmentation"], aid, int(img["height"]), int(img["width"]))
            if problem:  # checked before pycocotools sees it (curate.validate)
                raise UserError(f"{path}: {problem}")
            by_image.setdefault(iid, []).append(ann)
        for iid in sorted(images):
            anns = sorted(by_image.get(iid, []), key=lambda a: a["id"])
            if any(a.get("category_id") == person_category_id and not a.get("iscrowd", 0) for a in anns):
                tasks.append((split, images[iid], anns))
    return tasks


def _decode(ann: dict[str, Any], h: int, w: int, where: str) -> tuple[int, int, np.ndarray]:
    try:
        return decode_cropped(ann, h, w)
    except Exception as exc:  # pycocotools and malformed input raise assorted types
        raise UserError(f"{where}: annotation {ann.get('id')}: segmentation: cannot decode ({exc})") from None


# The integer columns of a :class:`SetBlock` (split and strategy as their index in SPLITS and
# params.strategies).
META_COLUMNS = (
    "annotation_id", "image_id", "split", "strategy", "set_index",
    "n_pos_requested", "n_neg_requested", "shortfall", "n_other_objects",
)


@dataclass
class SetBlock:
    """Click sets of some images, column by column: cheap to build, to send between processes
    and to turn into an Arrow table (no Python object per click)."""

    meta: np.ndarray  # (n, len(META_COLUMNS)) int64
    n_pos: np.ndarray  # (n,) clicks per set
    n_neg: np.ndarray
    pos: np.ndarray  # (n_pos.sum(), 2) int32 [x, y]: the positives of each set, set after set
    neg: np.ndarray

    def __len__(self) -> int:
        return len(self.meta)

    @property
    def annotation_ids(self) -> np.ndarray:
        return self.meta[:, 0]

    @staticmethod
    def empty() -> "SetBlock":
        z = np.zeros(0, np.int64)
        xy = np.zeros((0, 2), np.int32)
        return SetBlock(np.zeros((0, len(META_COLUMNS)), np.int64), z, z.copy(), xy, xy.copy())

    @staticmethod
    def concat(blocks: list["SetBlock"]) -> "SetBlock":
        blocks = [b for b in blocks if len(b)]
        if not blocks:
            return SetBlock.empty()
        if len(blocks) == 1:
            return blocks[0]
        return SetBlock(
            *(np.concatenate([getattr(b, f) for b in blocks]) for f in ("meta", "n_pos", "n_neg", "pos", "neg"))
        )


def image_sets(task: Task, params: ClicksParams, seed: int, person_category_id: int) -> SetBlock:
    """All click sets of one image (persons in annotation-id order)."""
    split, img, anns = task
    h, w = int(img["height"]), int(img["width"])
    where = f"{split}.json: image {img['id']}"
    pieces = [_decode(a, h, w, where) for a in anns]
    split_code = SPLITS.index(split)
    strategy_code = {s: i for i, s in enumerate(params.strategies)}
    meta: list[tuple] = []
    n_pos: list[int] = []
    n_neg: list[int] = []
    pos: list[tuple[int, int]] = []
    neg: list[tuple[int, int]] = []
    objects = ImageObjects(h, w, pieces)
    for i, ann in enumerate(anns):
        if ann.get("category_id") != person_category_id or ann.get("iscrowd", 0):
            continue
        x0, y0, crop = pieces[i]
        maps = build_maps_from_crop(h, w, x0, y0, crop, params, objects.others(i))
        for strategy, k, p, q, npr, nnr in instance_set_lists(maps, int(ann["id"]), params, seed):
            meta.append(
                (int(ann["id"]), int(img["id"]), split_code, strategy_code[strategy], k,
                 npr, nnr, npr + nnr - len(p) - len(q), len(anns) - 1)
            )
            n_pos.append(len(p))
            n_neg.append(len(q))
            pos += p
            neg += q
    if not meta:
        return SetBlock.empty()
    return SetBlock(
        np.array(meta, np.int64).reshape(-1, len(META_COLUMNS)),
        np.array(n_pos, np.int64),
        np.array(n_neg, np.int64),
        np.array(pos, np.int32).reshape(-1, 2),
        np.array(neg, np.int32).reshape(-1, 2),
    )


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core already


def _worker(args: tuple[list[Task], dict, int, int]) -> SetBlock:
    tasks, params_dict, seed, person_id = args
    params = ClicksParams.model_validate(params_dict)
    return SetBlock.concat([image_sets(t, params, seed, person_id) for t in tasks])


def chunk_size(n_tasks: int, workers: int) -> int:
    """Images per unit of work: small enough to keep every worker busy to the end, at most 8."""
    return max(1, min(8, -(-n_tasks // max(1, workers * 4))))


def make_pool(workers: int) -> ProcessPoolExecutor:
    """A started process pool for :func:`generate_sets` (``portraitkit.pool``: spawned workers)."""
    from portraitkit.pool import executor

    return executor(workers, initializer=_init_worker)


def generate_sets(
    tasks: list[Task],
    params: ClicksParams,
    seed: int,
    person_category_id: int,
    workers: int = 1,
    pool: ProcessPoolExecutor | None = None,
) -> Iterator[SetBlock]:
    """Click sets per chunk of images, in task order whatever ``workers`` is (``pool``: reuse a
    :func:`make_pool` pool instead of starting one)."""
    from portraitkit.pool import ordered_map

    size = chunk_size(len(tasks), workers)
    chunks = [tasks[i : i + size] for i in range(0, len(tasks), size)]
    if (workers <= 1 and pool is None) or len(chunks) <= 1:
        for c in chunks:  # inline, no pickling of params
            yield SetBlock.concat([image_sets(t, params, seed, person_category_id) for t in c])
        return
    pd_ = params.model_dump()
    jobs = [(c, pd_, seed, person_category_id) for c in chunks]
    yield from ordered_map(_worker, jobs, workers, initializer=_init_worker, pool=pool)


def _gather(counts: np.ndarray, points: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorder the per-set point runs of ``points`` (run lengths ``counts``) by ``order``."""
    starts = np.cumsum(counts) - counts
    c = counts[order]
    new_starts = np.cumsum(c) - c
    idx = np.repeat(starts[order] - new_starts, c) + np.arange(int(c.sum()), dtype=np.int64)
    return c, points[idx]


def _xy_lists(counts: np.ndarray, points: np.ndarray):
    """An Arrow list<list<int32>> column: one list of ``[x, y]`` pairs per set."""
    import pyarrow as pa

    pairs = pa.ListArray.from_arrays(
        pa.array(np.arange(0, 2 * len(points) + 1, 2, dtype=np.int32)),
        pa.array(np.ascontiguousarray(points, np.int32).reshape(-1)),
    )
    offsets = np.zeros(len(counts) + 1, np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), pairs)


def sets_to_table(block: SetBlock, strategies: list[str]):
    """The ``clicks.parquet`` table: rows sorted by image, annotation, strategy (params order)
    and set index, with an explicit schema (click lists stay list<list<int32>> when empty)."""
    import pyarrow as pa

    m = block.meta
    order = np.lexsort((m[:, 4], m[:, 3], m[:, 0], m[:, 1]))  # stable: image, annotation, strategy, set
    m = m[order]
    n_pos, pos = _gather(block.n_pos, block.pos, order)
    n_neg, neg = _gather(block.n_neg, block.neg, order)
    xy = pa.list_(pa.list_(pa.int32()))
    schema = pa.schema(
        [
            ("annotation_id", pa.int64()), ("image_id", pa.int64()), ("split", pa.string()),
            ("strategy", pa.string()), ("set_index", pa.int32()), ("positives", xy), ("negatives", xy),
            ("n_pos_requested", pa.int32()), ("n_neg_requested", pa.int32()), ("shortfall", pa.int32()),
            ("n_other_objects", pa.int32()),
        ]
    )
    names = {"split": np.array(SPLITS, object), "strategy": np.array(list(strategies), object)}
    cols = {
        "annotation_id": pa.array(m[:, 0], pa.int64()),
        "image_id": pa.array(m[:, 1], pa.int64()),
        "split": pa.array(names["split"][m[:, 2]].tolist() if len(m) else [], pa.string()),
        "strategy": pa.array(names["strategy"][m[:, 3]].tolist() if len(m) else [], pa.string()),
        "set_index": pa.array(m[:, 4].astype(np.int32)),
        "positives": _xy_lists(n_pos, pos).cast(xy),
        "negatives": _xy_lists(n_neg, neg).cast(xy),
        "n_pos_requested": pa.array(m[:, 5].astype(np.int32)),
        "n_neg_requested": pa.array(m[:, 6].astype(np.int32)),
        "shortfall": pa.array(m[:, 7].astype(np.int32)),
        "n_other_objects": pa.array(m[:, 8].astype(np.int32)),
    }
    return pa.Table.from_arrays([cols[f.name] for f in schema], schema=schema)


def write_clicks_parquet(path: Path, table) -> None:
    import pyarrow.parquet as pq

    from portraitkit.io import atomic_path

    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", use_dictionary=True, write_statistics=True)


def summarize(table, n_images: int, params: ClicksParams, seed: int) -> dict[str, Any]:
    """``summary.json`` of the ``clicks.parquet`` table."""
    import pyarrow.compute as pc

    df = table.drop_columns(["positives", "negatives"]).to_pandas()
    n_pos = pd.Series(pc.list_value_length(table["positives"]).to_numpy(zero_copy_only=False), index=df.index)
    n_neg = pd.Series(pc.list_value_length(table["negatives"]).to_numpy(zero_copy_only=False), index=df.index)
    pos_short = df["n_pos_requested"] - n_pos
    per_strategy = {}
    for s in params.strategies:
        sel = df["strategy"] == s
        sub = df[sel]
        per_strategy[s] = {
            "sets": int(sel.sum()),
            "positives": int(n_pos[sel].sum()),
            "negatives": int(n_neg[sel].sum()),
            "clicks_short": int(sub["shortfall"].sum()),
            "sets_with_shortfall": int((sub["shortfall"] > 0).sum()),
            "instances_with_shortfall": int(sub.loc[sub["shortfall"] > 0, "annotation_id"].nunique()),
            "instances_short_of_positives": int(sub.loc[pos_short[sel] > 0, "annotation_id"].nunique()),
            "sets_without_positives": int((n_pos[sel] == 0).sum()),
        }
    split_counts = {
        sp: int(df.loc[df["split"] == sp, "annotation_id"].nunique()) for sp in SPLITS
    }
    return {
        "images": int(n_images),
        "instances": int(df["annotation_id"].nunique()),
        "instances_per_split": split_counts,
        "sets": int(len(df)),
        "instances_with_too_few_valid_points": int(df.loc[df["shortfall"] > 0, "annotation_id"].nunique()),
        "instances_without_other_objects": int(df.loc[df["n_other_objects"] == 0, "annotation_id"].nunique()),
        "strategies": per_strategy,
        "seed": int(seed),
        "params": data_dump(params),  # execution settings (workers) left out: outputs never depend on them
    }


def read_clicks(path: str | Path) -> pd.DataFrame:
    """Read ``clicks.parquet`` (a file or the stage's output directory) with ``positives`` and
    ``negatives`` as (m, 2) int64 arrays of image ``[x, y]``."""
    path = Path(path)
    if path.is_dir():
        path = path / "clicks.parquet"
    df = read_parquet(path)
    for c in ("positives", "negatives"):
        df[c] = [np.array([list(p) for p in v], np.int64).reshape(-1, 2) for v in df[c]]
    return df


def run_clicks(
    curated: str | Path,
    out: str | Path,
    params: ClicksParams,
    seed: int,
    person_category_id: int = 1,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Run the stage; returns the summary written to ``summary.json``."""
    from portraitkit.cli_common import progress

    check_output(out, "clicks", [curated])  # before any work: never the input, never a user's folder
    tasks = load_tasks(Path(curated), person_category_id)
    chunks = generate_sets(tasks, params, seed, person_category_id, params.workers)
    size = chunk_size(len(tasks), params.workers)
    n_chunks = -(-len(tasks) // size)
    blocks = list(progress(chunks, desc="clicks", total=n_chunks, unit="chunk") if show_progress else chunks)
    table = sets_to_table(SetBlock.concat(blocks), params.strategies)
    summary = summarize(table, len(tasks), params, seed)
    with stage_output(out, "clicks", [curated]) as tmp:
        write_clicks_parquet(tmp / "clicks.parquet", table)
        write_json(tmp / "summary.json", summary)
    return summary
