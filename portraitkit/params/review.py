"""Params of the ``review`` section: the FiftyOne review dataset and its App."""

from __future__ import annotations

from pydantic import Field

from portraitkit.params.base import Section, execution_field


class ReviewParams(Section):
    name: str = Field(
        "portraitkit",
        min_length=1,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Name of the persistent FiftyOne dataset that build writes and app/pull read.",
    )
    # where the App listens changes no data: execution settings
    port: int = execution_field(5151, ge=1, le=65535, description="Port of the FiftyOne App.")
    address: str = execution_field(
        "127.0.0.1",
        min_length=1,
        description="Address the App binds to; 0.0.0.0 exposes it to the network.",
    )
