"""The `ndc` group's own behaviour: whole command descriptions in --help, every known error as
`error: <one line>` (orchestration.errors says which errors are known), and command groups that
live in other modules (storage, docs) loaded only when named or listed.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import click

from orchestration.errors import error_lines


def role_option(help_text: str) -> Any:
    """`--role analyst|restricted` of the commands that read the warehouse; NDC_SQL_ROLE is its
    default (declared with the other settings in environment/, read here by click)."""
    return click.option(
        "--role",
        type=click.Choice(["analyst", "restricted"]),
        envvar="NDC_SQL_ROLE",
        default="analyst",
        show_default=True,
        help=f"{help_text} Env: NDC_SQL_ROLE.",
    )


class Since(click.ParamType):
    """`--since` of the commands that read a trail or a change feed: 7d, 12h, 30m, or a date/time
    (warehouse.audit.parse_since, which the command runs again for its `now`). Checked as the
    command line is read, so a typo is a usage error (exit 2), audited as nothing."""

    name = "since"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from warehouse.audit import parse_since

        try:
            parse_since(str(value))
        except (ValueError, OverflowError):  # OverflowError: 99999999d reaches before year 1
            self.fail(f"{str(value)!r} is no time: give e.g. 7d, 12h, 30m or 2026-11-01", param, ctx)
        return str(value)


class OneLineError(click.ClickException):
    """What the user sees of a known error: `error: <line>` per line on stderr, and the exit code."""

    def __init__(self, lines: Sequence[str], exit_code: int) -> None:
        super().__init__("; ".join(lines))
        self.lines = list(lines)
        self.exit_code = exit_code

    def show(self, file: Any = None) -> None:
        for line in self.lines:
            click.echo(f"error: {line}", err=True)


class FullHelpGroup(click.Group):
    """A group whose --help lists each command's whole first sentence, wrapped, never cut at `...`."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class NdcGroup(FullHelpGroup):
    """The `ndc` group: full command descriptions in --help, and known errors as one line each.

    `lazy` names commands by `module:attribute`: the module is imported when the command is run
    or listed (--help), so the other commands never pay for its imports.
    """

    debug = False  # `ndc --debug`: tracebacks and Dagster's own log, for reporting a bug

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, _, attribute = self.lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            if type(command) is click.Group:  # its --help lists whole descriptions too
                command.__class__ = FullHelpGroup
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except OneLineError:
            raise
        except click.UsageError as error:
            raise self._one_line(error) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (OneLineError, click.exceptions.Exit, click.exceptions.Abort):
            raise  # already one line, or --help / --version / ctrl-C: click's own way out
        except click.ClickException as error:
            raise self._one_line(error) from None
        except Exception as error:
            known = None if NdcGroup.debug else error_lines(error)
            if known is None:
                raise  # not a user's mistake: a bug, with its traceback
            raise OneLineError(*known) from None

    @staticmethod
    def _one_line(error: click.ClickException) -> OneLineError:
        lines, code = error_lines(error) or ([error.format_message()], error.exit_code)
        return OneLineError(lines, code)
