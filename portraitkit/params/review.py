"""Params of the `review` section of params.yaml."""

from portraitkit.params.base import Section


class ReviewParams(Section):
    pass
