"""`arena-release`: the command line of the release pipeline.

Each subcommand lives in `pipeline/commands/<name>.py` and registers itself with `register()`.
Errors a user can fix (missing directory, bad config) print one line and exit 2, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from pipeline.errors import USER_ERRORS

COMMANDS = ("synth", "ingest", "ratings", "run", "verify")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arena-release", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"pipeline.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
