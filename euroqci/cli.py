"""The ``euroqci`` command line: a thin shell over the library.

Each subcommand lives in ``euroqci/commands/<name>.py`` and exposes ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Command modules import heavy
libraries inside ``run`` only, so that ``euroqci --help`` stays fast.

Usage errors and :class:`~euroqci.errors.EuroQCIError` become one line on stderr and exit
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from euroqci import __version__
from euroqci.errors import EuroQCIError

#: subcommand name -> module under ``euroqci.commands`` (the order is the order in --help)
COMMANDS: dict[str, str] = {
    "simulate": "simulate",
    "sweep": "sweep",
    "keyrate": "keyrate",
    "passes": "passes",
    "link": "link",
    "pki": "pki",
    "up": "up",
}

USAGE_ERROR = 2


class ArgumentParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line and exit status 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n")


def build_parser() -> ArgumentParser:
    """The full parser, with every available subcommand registered."""
    parser = ArgumentParser(
        prog="euroqci",
        description="euroqci: QKD link physics, link engine, key management and the "
        "EuroQCI digital twin.",
    )
    parser.add_argument("--version", action="version", version=f"euroqci {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(f"euroqci.commands.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"euroqci.commands.{module_name}":
                raise
            continue  # not written yet
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``euroqci`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return USAGE_ERROR
    try:
        return int(args._run(args) or 0)
    except EuroQCIError as exc:
        print(f"euroqci {args.command}: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print(f"euroqci {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (``euroqci passes --json | head``): stop quietly, and point
        # stdout at /dev/null so that the interpreter's final flush does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
