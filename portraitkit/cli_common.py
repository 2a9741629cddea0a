"""Options and helpers shared by every stage command."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence, TypeVar

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


def _running_command_options() -> list[Any]:
    """The options of the command being run, or [] outside a command."""
    try:  # typer ships its own copy of click (0.2x); older typers use click itself
        from typer._click.globals import get_current_context
    except ImportError:  # pragma: no cover - depends on the installed typer
        from click import get_current_context
    ctx = get_current_context(silent=True)
    if ctx is None:
        return []
    return [p for p in ctx.command.params if getattr(p, "param_type_name", "") == "option"]


def typed_option(section: str, key: str, value: Any) -> str:
    """How the user typed the option that set ``section.key`` (``--min-coverage 2``).

    The running command's options are searched for the one whose help names the key
    (``from_params``) or whose parameter is called like it; outside a command, ``--key``.
    """
    name = "--" + key.replace("_", "-")
    marker = from_params(f"{section}.{key}")
    for param in _running_command_options():
        if marker in (param.help or "") or param.name == key:
            name = max(param.opts, key=len)
            break
    return f"{name} {_show(value)}"


def comma_choices(choices: Sequence[str]) -> Any:
    """Option callback for a comma-separated list of choices (``--strategies a,b``): each one is
    checked, a wrong one is a usage error naming the option and the choices."""
    allowed = tuple(choices)

    def check(value: str | None) -> list[str] | None:
        if value is None:
            return None
        items = [v.strip() for v in value.split(",") if v.strip()]
        bad = [v for v in items if v not in allowed]
        if bad or not items:
            raise typer.BadParameter(f"{','.join(bad) or repr(value)}: choose from {', '.join(allowed)}")
        return items

    return check


def progress(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """A tqdm progress bar on stderr, silent when stderr is not a terminal or PORTRAITKIT_QUIET is set."""
    from tqdm import tqdm

    disable = bool(os.environ.get("PORTRAITKIT_QUIET")) or not sys.stderr.isatty()
    yield from tqdm(iterable, desc=desc, total=total, unit=unit, disable=disable, dynamic_ncols=True)


def progress_bar(total: int | None, desc: str, unit: str = "it", initial: int = 0, disable: bool = False):
    """A tqdm bar updated by hand (``update``, ``set_postfix`` for a running loss; ETA from ``total``),
    silent under the same rule as :func:`progress` or when ``disable``."""
    from tqdm import tqdm

    disable = disable or bool(os.environ.get("PORTRAITKIT_QUIET")) or not sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit=unit, initial=initial, disable=disable, dynamic_ncols=True)


def info(message: str) -> None:
    typer.echo(message, err=True)
