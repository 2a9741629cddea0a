"""Params of the `augment` section of params.yaml."""

from portraitkit.params.base import Section


class AugmentParams(Section):
    pass
