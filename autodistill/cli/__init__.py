"""The ``autodistill`` command line.

:func:`make_app` mounts one Typer per command group, then lets plugins add commands
through the ``register_commands`` hook. :func:`main` turns user-facing errors into one
line on stderr and exit code 2; ``AUTODISTILL_DEBUG=1`` shows tracebacks instead.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys

import typer

from autodistill._secrets import scrub, scrub_logs
from autodistill.errors import AutodistillError, environment_error

__all__ = ["make_app", "main"]


def _debug() -> bool:
    return os.environ.get("AUTODISTILL_DEBUG", "") not in ("", "0", "false")


#: The commands autodistill itself provides.
BUILTIN_COMMANDS = frozenset({"distill", "predict", "plugins", "search", "studies", "recommend",
                              "meta"})


def make_app(plugin_commands: bool = True) -> typer.Typer:
    """Build the CLI application: built-in commands, then (unless ``plugin_commands`` is
    False) the commands of plugins, which means importing every plugin."""
    from autodistill.cli import distill, meta, plugins_cmd, predict, recommend, search, studies

    app = typer.Typer(
        name="autodistill",
        help="Find the knowledge-distillation pipeline that gives your student the best accuracy.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    for module in (distill, predict, plugins_cmd, search, studies, recommend, meta):
        module.register(app)

    if plugin_commands:
        from autodistill.registry.manager import get_plugin_manager

        get_plugin_manager().hook.register_commands(app=app)
    _one_line_paragraphs(app)
    return app


def _one_line_paragraphs(app: typer.Typer) -> None:
    """Give every command whose help is its docstring that docstring with each paragraph
    on one line: typer's help keeps a docstring's line breaks and wraps at the terminal's
    width besides, which leaves a word or two alone on every other line."""
    for command in app.registered_commands:
        doc = command.callback.__doc__ if command.callback is not None else None
        if command.help is None and doc:
            command.help = "\n\n".join(" ".join(paragraph.split())
                                       for paragraph in inspect.cleandoc(doc).split("\n\n"))
    for group in app.registered_groups:
        if group.typer_instance is not None:
            _one_line_paragraphs(group.typer_instance)


def _names_builtin_command(argv: list[str]) -> bool:
    """Whether ``argv`` runs a built-in command (its first word, options aside), so that
    the plugins, and torch with them, need not be imported before it starts."""
    words = [arg for arg in argv if not arg.startswith("-")]
    return bool(words) and words[0] in BUILTIN_COMMANDS


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``autodistill`` script."""
    logging.basicConfig(level=logging.WARNING, format="autodistill: %(message)s")
    scrub_logs()
    try:
        args = sys.argv[1:] if argv is None else list(argv)
        app = make_app(plugin_commands=not _names_builtin_command(args))
        code = app(args=args, prog_name="autodistill", standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        sys.exit(1)
    except AutodistillError as exc:
        if _debug():
            raise
        _fail(str(exc))
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence against tracebacks
        if _debug():
            raise
        if _is_usage_error(exc):
            if not str(exc.format_message()).strip():  # a group run bare: its help is shown
                sys.exit(exc.exit_code)
            _fail(_usage_message(exc), exc.exit_code)
        known = environment_error(exc)
        if known is not None:
            _fail(known)
        _fail(f"internal error {type(exc).__name__}: {exc} "
              "(set AUTODISTILL_DEBUG=1 for the traceback and please report it)", 1)
    if code == 130:  # typer's answer to Ctrl-C; a command that says more exits itself
        typer.echo("Interrupted.", err=True)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int = 2) -> None:
    """Print ``Error: message`` as one line on stderr (secrets masked) and exit."""
    line = " ".join(scrub(message).split())
    typer.echo(f"Error: {line}", err=True)
    sys.exit(code)


def _is_usage_error(exc: Exception) -> bool:
    """A Click/Typer usage error (bad option, missing argument): Typer vendors Click in
    recent releases, so it is recognised by shape rather than by class."""
    return callable(getattr(exc, "format_message", None)) and isinstance(
        getattr(exc, "exit_code", None), int)


def _usage_message(exc: Exception) -> str:
    """One line: the message, then where to read the command's help."""
    message = " ".join(str(exc.format_message()).split())
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", "") or ""
    return f"{message} (see '{path} --help')" if path else message
