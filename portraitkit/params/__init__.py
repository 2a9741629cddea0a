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
from portraitkit.params.train import TrainParams

DEFAULT_PARAMS_FILE = Path("params.yaml")

M = TypeVar("M", bound=BaseModel)


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = Field(20261121, ge=0, lt=2**63, strict=True, description="Root seed: every random choice in every stage derives from it.")
    demo: DemoParams = DemoParams()
    curate: CurateParams = CurateParams()
    flag: FlagParams = FlagParams()
    clicks: ClicksParams = ClicksParams()
    augment: AugmentParams = AugmentParams()
    review: ReviewParams = ReviewParams()
    report: ReportParams = ReportParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()
    export: ExportParams = ExportParams()


def _readable(err: dict[str, Any]) -> str:
    """pydantic's message for one error, said as a rule on the value ("must be ≤ 1")."""
    ctx = err.get("ctx") or {}
    kind = err["type"]
    bounds = {"less_than_equal": ("≤", "le"), "greater_than_equal": ("≥", "ge"),
              "less_than": ("<", "lt"), "greater_than": (">", "gt")}
    if kind in bounds and bounds[kind][1] in ctx:
        sign, name = bounds[kind]
        bound = ctx[name]
        return f"must be {sign} {bound:g}" if isinstance(bound, float) else f"must be {sign} {bound}"
    if kind == "literal_error" and "expected" in ctx:
        return f"must be {ctx['expected']}"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "missing"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "must be an integer"
    if kind in ("float_parsing", "float_type"):
        return "must be a number"
    if kind in ("bool_parsing", "bool_type"):
        return "must be true or false"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def format_validation_error(source: str, exc: ValidationError, prefix: str = "") -> str:
    """One line per problem, each naming the dotted params key."""
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        msg = _readable(err)
        if "input" in err and err["type"] not in ("missing",) and not isinstance(err["input"], dict):
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
    from portraitkit.io import read_text  # here: pandas stays out of `portraitkit --help`

    try:
        raw = yaml.safe_load(read_text(path)) or {}
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

    Used by CLI commands: an option given on the command line wins over params.yaml. An invalid
    value is reported with the option the user typed and the params key it sets
    (``--min-coverage 2: curate.min_coverage must be ≤ 1``).
    """
    updates = {k: v for k, v in values.items() if v is not None}
    if not updates:
        return model
    data = model.model_dump()
    data.update(updates)
    try:
        return type(model).model_validate(data)
    except ValidationError as exc:
        raise UserError(_command_line_error(section, exc, updates)) from None


def _command_line_error(section: str, exc: ValidationError, updates: dict[str, Any]) -> str:
    from portraitkit.cli_common import typed_option  # the CLI layer knows which option set a key

    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        key = ".".join([section, *loc])
        rule = _readable(err)
        if loc and loc[0] in updates:
            lines.append(f"{typed_option(section, loc[0], updates[loc[0]])}: {key} {rule}")
        else:
            # a rule across keys (min_coverage <= max_coverage): name every option given
            given = " ".join(typed_option(section, k, v) for k, v in updates.items())
            lines.append(f"{given}: {key}: {rule}")
    return "\n".join(lines)


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
