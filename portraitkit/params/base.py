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


def _exclude_spec(model: BaseModel) -> dict[str, Any]:
    """pydantic ``exclude`` mapping that drops every execution field, nested models included."""
    spec: dict[str, Any] = {}
    for name in type(model).model_fields:
        if is_execution_field(type(model), name):
            spec[name] = True
            continue
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            sub = _exclude_spec(value)
        elif isinstance(value, dict) and any(isinstance(v, BaseModel) for v in value.values()):
            sub = {k: s for k, v in value.items() if isinstance(v, BaseModel) and (s := _exclude_spec(v))}
        else:
            sub = {}
        if sub:
            spec[name] = sub
    return spec


def data_dump(model: BaseModel) -> dict[str, Any]:
    """``model_dump(mode="json")`` without the execution settings: what identities and digests hash."""
    return model.model_dump(mode="json", exclude=_exclude_spec(model) or None)


def execution_keys(model: BaseModel, prefix: str = "") -> list[str]:
    """Dotted keys of every execution setting in ``model`` (e.g. ``curate.workers``)."""
    keys: list[str] = []
    for name in type(model).model_fields:
        key = f"{prefix}.{name}" if prefix else name
        value = getattr(model, name)
        if is_execution_field(type(model), name):
            keys.append(key)
        elif isinstance(value, BaseModel):
            keys.extend(execution_keys(value, key))
        elif isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, BaseModel):
                    keys.extend(execution_keys(v, f"{key}.{k}"))
    return keys
