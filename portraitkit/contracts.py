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
from portraitkit.io import read_parquet

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


@dataclass(frozen=True)
class Contract:
    """A stage's output folder: the files it always writes and its tables."""

    stage: str
    files: tuple[str, ...]
    tables: dict[str, Table] = field(default_factory=dict)

    def table(self, name: str) -> Table:
        return self.tables[name]

    def path(self, folder: str | Path, name: str) -> Path:
        return Path(folder) / self.tables[name].file


def read_table(folder: str | Path, contract: Contract, name: str) -> pd.DataFrame:
    """``contract``'s table ``name`` from ``folder``, validated (one-line UserError when it does not fit)."""
    path = contract.path(folder, name)
    return contract.table(name).validate(read_parquet(path), path)
