"""Base of every params section, and the marker that tells execution settings from data params."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Execution settings (workers, device, threads, progress) change how a stage runs, never what it
# writes: they are kept out of every identity, params digest and DVC-tracked params list.
EXECUTION_MARK = "portraitkit_execution"


def execution_field(default: Any, **kwargs: Any) -> Any:
    """A params field that is an execution setting (see ``EXECUTION_MARK``)."""
    extra = dict(kwargs.pop("json_schema_extra", None) or {})
    extra[EXECUTION_MARK] = True
    return Field(default, json_schema_extra=extra, **kwargs)


def is_execution_field(model: type[BaseModel], name: str) -> bool:
    info = model.model_fields[name]
    extra = info.json_schema_extra
    return isinstance(extra, dict) and bool(extra.get(EXECUTION_MARK))


class Section(BaseModel):
    """Base of every params section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
