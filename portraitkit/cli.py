"""The ``portraitkit`` command: mounts the commands of every stage package.

Stage modules are imported only when the CLI starts, and stages with heavy imports
(FiftyOne, torch) import them inside their commands so ``--help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys

import typer

from portraitkit.errors import UserError

# (module, attribute): each is a typer app whose commands appear at the top level,
# or a group (review) that keeps its own name.
STAGE_APPS = [
    "portraitkit.curate.cli_demo",
    "portraitkit.curate.cli_curate",
    "portraitkit.curate.cli_flag",
    "portraitkit.annotate.cli_clicks",
    "portraitkit.augment.cli",
    "portraitkit.train.cli_train",
    "portraitkit.train.cli_evaluate",
    "portraitkit.train.cli_export",
    "portraitkit.annotate.cli_review",
    "portraitkit.reports.cli",
]
# Typer lists groups after commands; the list above is the pipeline order.

app = typer.Typer(
    name="portraitkit",
    help="Turn COCO into versioned, reviewed, augmented person-segmentation datasets.\n\n"
    "Pipeline (dvc.yaml): demo-data -> curate -> flag, clicks -> augment -> review -> report.\n\n"
    "Every option defaults from params.yaml (see --params) and can be overridden here.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from portraitkit import __version__

        typer.echo(f"portraitkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Root options (the help text is the app's)."""


def _mount() -> None:
    for module_name in STAGE_APPS:
        module = importlib.import_module(module_name)
        sub = module.app
        group_name = getattr(module, "GROUP_NAME", None)
        if group_name:
            app.add_typer(sub, name=group_name)
        else:
            for cmd in sub.registered_commands:
                app.registered_commands.append(cmd)


_mount()


def main() -> None:
    try:
        app()
    except UserError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(2)
    except KeyboardInterrupt:  # raised outside typer's own handling (e.g. while a command's modules import)
        typer.secho("interrupted", err=True)
        sys.exit(130)
    except SystemExit as exc:
        # typer turns Ctrl-C inside a command into a silent Exit(130): say what happened, in one line
        if exc.code == 130:
            typer.secho("interrupted", err=True)
        raise


if __name__ == "__main__":
    main()
