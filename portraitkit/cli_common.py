"""Options and helpers shared by every stage command."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence, TypeVar

import click
import typer

from portraitkit.params import DEFAULT_PARAMS_FILE, Params

T = TypeVar("T")

PARAMS_OPTION = typer.Option(
    None,
    "--params",
    help=f"Params file to read defaults from [default: ./{DEFAULT_PARAMS_FILE} if present, else built-in defaults].",
    show_default=False,
)


def from_params(key: str) -> str:
    """Help suffix for an option whose default comes from params.yaml.

    It names the key, never its value (the value lives in params.yaml only); ``typed_option``
    reads it back to name the option in an error about that key.
    """
    return f"[default: params.yaml {key}]"


def load_command_params(params_file: Path | None) -> Params:
    """``load_params`` for a command: says on stderr, in one line, which params it used."""
    from portraitkit.params import load_params

    params = load_params(params_file)
    if params_file is not None:
        info(f"params: {params_file}")
    elif DEFAULT_PARAMS_FILE.exists():
        info(f"params: ./{DEFAULT_PARAMS_FILE}")
    else:
        info(f"params: built-in defaults (no ./{DEFAULT_PARAMS_FILE} here)")
    return params


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_show(v) for v in value)
    return str(value)


def typed_option(section: str, key: str, value: Any) -> str:
    """How the user typed the option that set ``section.key`` (``--min-coverage 2``).

    The running command's options are searched for the one whose help names the key
    (``from_params``) or whose parameter is called like it; outside a command, ``--key``.
    """
    ctx = click.get_current_context(silent=True)
    name = "--" + key.replace("_", "-")
    if ctx is not None:
        marker = from_params(f"{section}.{key}")
        for param in ctx.command.params:
            if isinstance(param, click.Option) and (marker in (param.help or "") or param.name == key):
                name = max(param.opts, key=len)
                break
    return f"{name} {_show(value)}"


class CommaChoice(click.ParamType):
    """A comma-separated list of choices (``--strategies a,b``), each checked, listed by ``--help``."""

    name = "choices"

    def __init__(self, choices: Sequence[str]) -> None:
        self.choices = tuple(choices)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[" + "|".join(self.choices) + "],..."

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[str]:
        if isinstance(value, list):
            return value
        items = [v.strip() for v in str(value).split(",") if v.strip()]
        bad = [v for v in items if v not in self.choices]
        if bad or not items:
            self.fail(f"{','.join(bad) or repr(value)}: choose from {', '.join(self.choices)}", param, ctx)
        return items


def progress(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """A tqdm progress bar on stderr, silent when stderr is not a terminal or PORTRAITKIT_QUIET is set."""
    from tqdm import tqdm

    disable = bool(os.environ.get("PORTRAITKIT_QUIET")) or not sys.stderr.isatty()
    yield from tqdm(iterable, desc=desc, total=total, unit=unit, disable=disable, dynamic_ncols=True)


def info(message: str) -> None:
    typer.echo(message, err=True)
