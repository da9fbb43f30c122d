"""What every part's command shares: a refusal is one line on stderr and exit status 2, never a
traceback; a part's folder is named by --data."""

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click


def fail(message: str) -> NoReturn:
    click.echo(f"origin: {message}", err=True)
    sys.exit(2)


def data_option(help: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--data, a folder, required."""
    return click.option("--data", type=click.Path(file_okay=False, path_type=Path), required=True, help=help)
