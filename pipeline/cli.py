"""`arena-release`: the command line of the release pipeline.

Each subcommand lives in `pipeline/commands/<name>.py` and registers itself with `register()`; only the
command asked for is imported (each pulls in its own stages: ratings alone imports scipy and matplotlib).
Errors a user can fix (missing directory, bad config) print one line and exit 2, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from pipeline.errors import USER_ERRORS

COMMANDS = ("synth", "ingest", "ratings", "run", "verify", "takedown")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of `command` alone, or of every command (for the top-level help and usage errors)."""
    parser = argparse.ArgumentParser(prog="arena-release", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS if command is None else (command,):
        importlib.import_module(f"pipeline.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv and argv[0] in COMMANDS else None).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as err:
        print(f"arena-release {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"arena-release {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
