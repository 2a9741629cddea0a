"""Params of the `flag` section of params.yaml."""

from portraitkit.params.base import Section


class FlagParams(Section):
    pass
