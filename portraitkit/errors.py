"""Errors a user can fix. The CLI prints them as one line, without a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input, params or environment.

    The message must say what is wrong and where: the file, the record and the field.
    """


def where(file: object, record: object | None = None, field: str | None = None) -> str:
    """Format a location as ``file: record: field`` for error messages."""
    parts = [str(file)]
    if record is not None:
        parts.append(str(record))
    if field is not None:
        parts.append(field)
    return ": ".join(parts)
