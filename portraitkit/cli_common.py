"""Options and helpers shared by every stage command."""

from __future__ import annotations

import os
import sys
from typing import Iterable, Iterator, TypeVar

import typer

from portraitkit.params import DEFAULT_PARAMS_FILE

T = TypeVar("T")

PARAMS_OPTION = typer.Option(
    None,
    "--params",
    help=f"Params file to read defaults from [default: ./{DEFAULT_PARAMS_FILE} if present, else built-in defaults].",
    show_default=False,
)


def from_params(key: str) -> str:
    """Help suffix for an option whose default comes from params.yaml."""
    return f"[default: params.yaml {key}]"


def progress(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """A tqdm progress bar on stderr, silent when stderr is not a terminal or PORTRAITKIT_QUIET is set."""
    from tqdm import tqdm

    disable = bool(os.environ.get("PORTRAITKIT_QUIET")) or not sys.stderr.isatty()
    yield from tqdm(iterable, desc=desc, total=total, unit=unit, disable=disable, dynamic_ncols=True)


def info(message: str) -> None:
    typer.echo(message, err=True)
