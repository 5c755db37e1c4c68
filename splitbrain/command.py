"""What every command-line entry point shares: one-line errors and running a subcommand that
lives in its own module (``add_arguments`` + ``run_command``), so each such module can be run
with ``python -m`` without importing the ``splitbrain`` command itself."""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

PROG = "splitbrain"


def _print_error(message: object) -> None:
    """Print ``splitbrain: error: <message>`` on one line to stderr."""
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)


class OneLineParser(argparse.ArgumentParser):
    """argparse with a one-line error: ``splitbrain: error: ...`` (no usage dump)."""

    def error(self, message: str):  # noqa: D401 - argparse API
        _print_error(message)
        raise SystemExit(2)


def reporting_errors(action: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """``action(args)``'s exit status; an expected error becomes one line on stderr and status 2."""
    try:
        return action(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, FloatingPointError, ImportError) as error:
        # ValueError covers CheckpointMismatchError and RunExistsError; OSError covers
        # MissingDatasetError and the writers' disk-full and permission errors.
        _print_error(error)
        return 2


def run_tool(prog: str, description: str, add_arguments: Callable[[argparse.ArgumentParser], None],
             run_command: Callable[[argparse.Namespace], int], argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) with the options ``add_arguments`` adds and run
    ``run_command`` on them, with one-line errors; returns the exit status. The parsed arguments
    carry ``argv`` (the benchmark prints its own command line)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = OneLineParser(prog=prog, description=description)
    add_arguments(parser)
    args = parser.parse_args(argv)
    args.argv = argv
    return reporting_errors(run_command, args)
