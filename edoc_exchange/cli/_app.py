"""The typer application, its global options and the one exit path for errors."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import EdocError

__all__ = ["ConfigOption", "app", "err_console", "exits_on_error", "out", "state"]

app = typer.Typer(
    name="edoc",
    help="Văn bản điện tử liên thông (edXML, QCVN 102:2016) cho UBND xã. "
    "Signed edXML exchange with the national document axis.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# markup=False: printed text carries user data (element paths, messages with brackets);
# the few styled lines ask for markup explicitly.
out = Console(highlight=False, soft_wrap=True, markup=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


@dataclass
class _State:
    debug: bool = False


state = _State()


@app.callback()
def _global(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks (for developers).")
    ] = False,
) -> None:
    """Global options."""
    state.debug = debug


#: The --config option every command that needs the settings takes.
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        dir_okay=False,
        help="Tệp cấu hình TOML / TOML config file (default: $EDOC_CONFIG or ./edoc.toml).",
    ),
]

P = ParamSpec("P")
R = TypeVar("R")


def exits_on_error(func: Callable[P, R]) -> Callable[P, R]:
    """Turn errors into a message and exit code 1; a traceback only with ``--debug``.

    An EdocError prints its Vietnamese and English message; anything else is a bug, said
    as such in one line (with what to run to see more), never as a traceback.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except EdocError as exc:
            if state.debug:
                raise
            # The message may hold brackets ("[office]"): never let rich read it as markup.
            err_console.print(f"[bold red]Lỗi / Error:[/] {escape(exc.diagnostics())}", markup=True)
            raise typer.Exit(1) from None
        except (typer.Exit, typer.Abort, typer.TyperException, KeyboardInterrupt):
            raise  # exits and usage errors (exit 2) are typer's to report
        except Exception as exc:
            if state.debug:
                raise
            err_console.print(
                f"[bold red]Lỗi không mong đợi / unexpected error:[/] "
                f"{escape(type(exc).__name__)}: {escape(str(exc))} "
                "(chạy lại với --debug để xem chi tiết / run again with --debug for details)",
                markup=True,
            )
            raise typer.Exit(1) from None

    return wrapper
