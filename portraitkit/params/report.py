"""Params of the `report` section of params.yaml."""

from portraitkit.params.base import Section


class ReportParams(Section):
    pass
