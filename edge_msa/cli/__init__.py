"""`edge-msa`: one sub-command per job.

Each module in this package defines `register(app)` and adds its own command(s); they are
discovered, so adding a job touches one new file. Any `UserError` (and the usual file errors)
becomes a one-line message on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import sys
import warnings
from typing import Annotated

import typer

from edge_msa.errors import UserError

app = typer.Typer(
    name="edge-msa",
    help="Multimodal sentiment analysis (text + speech + face) on edge devices.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


VERBOSE_HELP = ("Show what native libraries (ExecuTorch, XNNPACK, LiteRT) and third-party packages print "
                "while loading; hidden by default, edge-msa's own warnings always show.")


@app.callback()
def global_options(verbose: Annotated[bool, typer.Option("--verbose", help=VERBOSE_HELP)] = False) -> None:
    """Multimodal sentiment analysis (text + speech + face) on edge devices."""
    from edge_msa.runtime.native_output import set_verbose, verbose_from_env
    from edge_msa.runtime.tiers import set_format_order

    loud = verbose or verbose_from_env()
    set_verbose(loud)
    set_format_order(_device_formats)  # a bare tier name runs its fastest bundle on this device
    if not loud:
        # Third-party deprecation and experimental notes (torch, torchao, executorch) are not the
        # user's to act on; ours are printed, not warned, so no filter hides them.
        warnings.simplefilter("ignore")


def _device_formats() -> tuple[str, ...]:
    from edge_msa.profile.devices import fastest_formats

    return fastest_formats()


@functools.cache  # once per process: main() may be called many times (tests) on the same app
def _register_commands() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(app)


def fail(message: str) -> None:
    """Print one line and exit 2 (for option checks inside commands)."""
    raise UserError(message)


def main(argv: list[str] | None = None) -> int:
    _register_commands()
    try:
        with warnings.catch_warnings():  # the filter --verbose leaves out ends with the command
            code = app(args=argv, standalone_mode=False)
    except UserError as e:
        print(f"edge-msa: error: {e}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        print(f"edge-msa: error: {e.strerror}: {e.filename}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:
        from edge_msa.extras import missing_module_message

        message = missing_module_message(e)  # a command of an extra the lean install leaves out
        if message is None:
            raise
        print(f"edge-msa: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("edge-msa: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # click usage errors and friends
        import click
        from typer._click import exceptions as typer_click  # typer >= 0.2x vendors its own click

        if isinstance(e, typer_click.NoArgsIsHelpError):
            return 2  # the help text is already printed
        if isinstance(e, (click.exceptions.ClickException, typer_click.ClickException)):
            print(f"edge-msa: error: {e.format_message()}", file=sys.stderr)
            return 2
        if isinstance(e, (click.exceptions.Exit, typer.Exit)):
            return e.exit_code
        if isinstance(e, (click.exceptions.Abort, typer.Abort)):
            return 130
        raise
    finally:  # the Python API (and tests calling main) keep the library's own rules
        from edge_msa.runtime.native_output import set_verbose, verbose_from_env
        from edge_msa.runtime.tiers import set_format_order

        set_format_order(None)
        set_verbose(verbose_from_env())
    if code == 130:  # typer turns a Ctrl-C inside a command into this code, returned rather than raised
        print("edge-msa: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
