"""The params schema: one pydantic model per ``params.yaml`` section.

Each stage's section lives in its own module here so it can grow without touching the
others. Every CLI option defaults from its section and can be overridden on the
command line; invalid values fail at start-up with a message naming the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from portraitkit.errors import UserError
from portraitkit.params.augment import AugmentParams
from portraitkit.params.clicks import ClicksParams
from portraitkit.params.curate import CurateParams
from portraitkit.params.demo import DemoParams
from portraitkit.params.evaluate import EvaluateParams
from portraitkit.params.export import ExportParams
from portraitkit.params.flag import FlagParams
from portraitkit.params.report import ReportParams
from portraitkit.params.review import ReviewParams

DEFAULT_PARAMS_FILE = Path("params.yaml")

M = TypeVar("M", bound=BaseModel)


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = Field(20261121, description="Root seed: every random choice in every stage derives from it.")
    demo: DemoParams = DemoParams()
    curate: CurateParams = CurateParams()
    flag: FlagParams = FlagParams()
    clicks: ClicksParams = ClicksParams()
    augment: AugmentParams = AugmentParams()
    review: ReviewParams = ReviewParams()
    report: ReportParams = ReportParams()
    evaluate: EvaluateParams = EvaluateParams()
    export: ExportParams = ExportParams()


def format_validation_error(source: str, exc: ValidationError, prefix: str = "") -> str:
    """One line per problem, each naming the dotted params key."""
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        msg = err["msg"]
        if "input" in err and err["type"] not in ("missing",):
            msg = f"{msg} (got {err['input']!r})"
        lines.append(f"{source}: {key or '<root>'}: {msg}")
    return "\n".join(lines)


def load_params(path: str | Path | None = None) -> Params:
    """Load and validate params. With no path, ``./params.yaml`` if present, else defaults."""
    explicit = path is not None
    path = Path(path) if path is not None else DEFAULT_PARAMS_FILE
    if not path.exists():
        if explicit:
            raise UserError(f"{path}: params file not found")
        return Params()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: malformed YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of sections at the top level")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise UserError(format_validation_error(str(path), exc)) from None


def override(model: M, section: str, **values: Any) -> M:
    """Return ``model`` with the non-None ``values`` replaced, validated again.

    Used by CLI commands: an option given on the command line wins over params.yaml.
    """
    updates = {k: v for k, v in values.items() if v is not None}
    if not updates:
        return model
    data = model.model_dump()
    data.update(updates)
    try:
        return type(model).model_validate(data)
    except ValidationError as exc:
        raise UserError(format_validation_error("command line", exc, prefix=section)) from None


__all__ = [
    "Params",
    "DemoParams",
    "CurateParams",
    "FlagParams",
    "ClicksParams",
    "AugmentParams",
    "ReviewParams",
    "ReportParams",
    "EvaluateParams",
    "ExportParams",
    "load_params",
    "override",
    "format_validation_error",
]
