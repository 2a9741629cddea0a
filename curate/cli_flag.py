"""Placeholder: replaced by the stage's real commands."""

import typer

app = typer.Typer()
