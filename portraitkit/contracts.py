"""What a stage promises to write: file names and parquet columns with their kinds, declared once.

Each stage declares a :class:`Contract` next to its code (``curate/contract.py``,
``curate/coarseness/contract.py``, ``annotate/clicks/contract.py``, ``augment/contract.py``);
every reader of that output (later stages, the report, review) reads its tables through
:func:`read_table`, which gives a one-line :class:`UserError` naming the file and the missing or
wrongly typed column instead of a KeyError deep inside the reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from portraitkit.errors import UserError
from portraitkit.io import read_json, read_parquet

# column kinds: checked with pandas' dtype predicates (the exact numpy width may vary)
_KINDS = {
    "int": pd.api.types.is_integer_dtype,
    "float": lambda d: pd.api.types.is_float_dtype(d) or pd.api.types.is_integer_dtype(d),
    "bool": pd.api.types.is_bool_dtype,
    "str": lambda d: pd.api.types.is_string_dtype(d) or pd.api.types.is_object_dtype(d),
    "list": pd.api.types.is_object_dtype,
}


@dataclass(frozen=True)
class Table:
    """One parquet file of a stage output: its file name and required columns -> kind."""

    file: str
    columns: dict[str, str]

    def validate(self, df: pd.DataFrame, path: Path) -> pd.DataFrame:
        missing = [c for c in self.columns if c not in df.columns]
        if missing:
            raise UserError(f"{path}: missing column(s) {', '.join(missing)}")
        for col, kind in self.columns.items():
            if not _KINDS[kind](df[col].dtype):
                raise UserError(f"{path}: column {col}: expected {kind}, found {df[col].dtype}")
        return df


# JSON value kinds; a trailing "?" also allows null (e.g. a val IoU of an empty split)
_JSON_KINDS = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "dict": lambda v: isinstance(v, dict),
    "list": lambda v: isinstance(v, list),
}


@dataclass(frozen=True)
class JsonFile:
    """One JSON object of a stage output: its file name and required keys -> kind."""

    file: str
    keys: dict[str, str]

    def validate(self, obj: object, path: Path) -> dict:
        if not isinstance(obj, dict):
            raise UserError(f"{path}: expected a JSON object")
        missing = [k for k in self.keys if k not in obj]
        if missing:
            raise UserError(f"{path}: missing key(s) {', '.join(missing)}")
        for key, kind in self.keys.items():
            base, nullable = kind.rstrip("?"), kind.endswith("?")
            value = obj[key]
            if not ((nullable and value is None) or _JSON_KINDS[base](value)):
                raise UserError(f"{path}: key {key}: expected {kind}, found {type(value).__name__}")
        return obj


@dataclass(frozen=True)
class Contract:
    """A stage's output folder: the files it always writes, its tables and its JSON objects."""

    stage: str
    files: tuple[str, ...]
    tables: dict[str, Table] = field(default_factory=dict)
    jsons: dict[str, JsonFile] = field(default_factory=dict)

    def table(self, name: str) -> Table:
        return self.tables[name]

    def path(self, folder: str | Path, name: str) -> Path:
        item = self.tables.get(name) or self.jsons[name]
        return Path(folder) / item.file


def read_table(folder: str | Path, contract: Contract, name: str) -> pd.DataFrame:
    """``contract``'s table ``name`` from ``folder``, validated (one-line UserError when it does not fit)."""
    path = contract.path(folder, name)
    return contract.table(name).validate(read_parquet(path), path)


def read_json_file(folder: str | Path, contract: Contract, name: str) -> dict:
    """``contract``'s JSON object ``name`` from ``folder``, validated (one-line UserError when it does not fit)."""
    path = contract.path(folder, name)
    if not path.is_file():
        raise UserError(f"{path}: not found (is {folder} a `portraitkit {contract.stage}` output?)")
    return contract.jsons[name].validate(read_json(path), path)


def check_output(folder: str | Path, contract: Contract) -> None:
    """Every file ``contract`` promises is in ``folder`` and every table / JSON object present fits it."""
    folder = Path(folder)
    absent = [f for f in contract.files if not (folder / f).is_file()]
    if absent:
        raise UserError(f"{folder}: missing {', '.join(absent)} (is it a `portraitkit {contract.stage}` output?)")
    for name in contract.tables:
        if contract.path(folder, name).is_file():
            read_table(folder, contract, name)
    for name in contract.jsons:
        if contract.path(folder, name).is_file():
            read_json_file(folder, contract, name)
