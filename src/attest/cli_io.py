"""What every command module of the CLI shares (``attest``, ``attest conformance``, ``attest helseid``,
``attest saml``): the consoles, the one way a command fails (``error: …`` on standard error, exit status
2 unless said), and the one reading of an argument that is "a token, a file holding it, or ``-``"."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

EXIT_USAGE = 2


def stdout() -> Console:
    return Console(highlight=False, soft_wrap=False)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print ``error: message`` (never as markup: it may quote a token) and exit with ``code``."""
    err = stderr()
    err.print("[bold red]error:[/bold red] ", end="")
    err.print(message, markup=False)
    raise typer.Exit(code)


def read_arg(arg: str) -> str:
    """``-`` reads standard input; an existing file is read; anything else is the value itself. Only the
    line ending of a file or of standard input is removed: other whitespace stays and makes a token
    malformed, exactly as the library and the service see it."""
    if arg == "-":
        return sys.stdin.read().rstrip("\r\n")
    try:
        p = Path(arg)
        if len(arg) < 4096 and p.is_file():
            return p.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, ValueError):  # not a file name (a token may be longer than one)
        pass
    return arg
