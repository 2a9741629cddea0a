"""Small I/O helpers shared by every stage.

Every output is written to a temporary path next to its destination and renamed into
place only when complete, so an interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from portraitkit.errors import UserError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary file path beside ``dest``; rename it onto ``dest`` on success."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{dest.name}.", suffix=suffix if suffix is not None else dest.suffix, dir=dest.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; give outputs the permissions a normal write would.
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, dest)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary directory beside ``dest``; swap it in for ``dest`` on success.

    Not for stage outputs: it replaces whatever ``dest`` holds, a user's folder included, and a
    SIGKILL between its two renames leaves no ``dest``. Stages use
    :func:`portraitkit.outputs.stage_output` (ownership marker, refusals, crash recovery).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        old = None
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
            os.replace(dest, old)
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps_json(obj: Any, indent: int | None = 2) -> str:
    """Deterministic JSON text (key order as given, fixed separators, trailing newline)."""
    return json.dumps(obj, indent=indent, default=_json_default, ensure_ascii=False) + "\n"


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(dumps_json(obj, indent=indent), encoding="utf-8")


def read_bytes(path: str | os.PathLike) -> bytes:
    """A file's bytes, or a one-line UserError naming it (missing, a folder, unreadable)."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, expected a file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from None


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, turning parse errors into a one-line UserError naming the file."""
    import orjson

    path = Path(path)
    data = read_bytes(path)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UserError(f"{path}: malformed JSON ({exc})") from None


def read_text(path: str | os.PathLike) -> str:
    """A UTF-8 text file (params, CSV), or a one-line UserError naming the file and the first bad byte."""
    path = Path(path)
    data = read_bytes(path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UserError(
            f"{path}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8"
        ) from None


def write_parquet(path: str | os.PathLike, df: pd.DataFrame, schema: Any = None) -> None:
    """Write a DataFrame to Parquet byte-for-byte reproducibly (no index, fixed compression).

    Pass a ``pyarrow.Schema`` when a column's type could otherwise be inferred differently
    from run to run (an all-empty list column, an all-null column).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False, schema=schema)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", use_dictionary=True, write_statistics=True)


def read_parquet(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: file not found (did the stage that writes it run?)")
    import pyarrow as pa

    try:
        return pd.read_parquet(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{path}: not a readable Parquet file ({first})") from None


def write_png(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write an 8-bit image as PNG atomically (OpenCV's PNG encoder is deterministic)."""
    import cv2

    ok, buf = cv2.imencode(".png", array)
    if not ok:
        raise RuntimeError(f"could not encode {path} as PNG")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.tobytes())


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_tree(path: str | os.PathLike) -> str:
    """Digest of a directory: relative paths and contents of every file, in sorted order."""
    root = Path(path)
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(root)).encode())
        h.update(b"\0")
        h.update(sha256_file(f).encode())
    return h.hexdigest()


def safe_join(root: str | os.PathLike, file_name: str, *, context: str) -> Path:
    """Join ``file_name`` under ``root``, refusing absolute paths and ``..`` escapes."""
    if not isinstance(file_name, str) or not file_name:
        raise UserError(f"{context}: file_name must be a non-empty string")
    p = Path(file_name)
    if p.is_absolute() or ".." in p.parts:
        raise UserError(f"{context}: file_name {file_name!r} escapes the images folder")
    return Path(root) / p
