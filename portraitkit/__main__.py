"""``python -m portraitkit`` (and ``torchrun -m portraitkit``) runs the CLI."""

from portraitkit.cli import main

main()
