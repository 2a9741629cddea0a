"""Params of the `clicks` section of params.yaml."""

from portraitkit.params.base import Section


class ClicksParams(Section):
    pass
