"""Entry point of the ``cartgraph`` command.

Each sub-command lives in its own module exposing ``register(subparsers)``, which adds
its parser and sets ``handler`` (a function ``args -> int`` exit code). User mistakes
(any :class:`~cartgraph.errors.CartgraphError`, a missing file) print one clear line
on stderr and exit with code 2, never a traceback; ``--debug`` shows the traceback.

Exit codes: 0 success, 1 a check failed (e.g. a metric out of range), 2 bad input or
usage, 3 a service (Neo4j) is unavailable, 130 interrupted.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence

from cartgraph.errors import CartgraphError, ServiceError

__all__ = ["main", "build_parser", "COMMANDS"]

COMMANDS: tuple[str, ...] = ("demo", "data", "fit", "recommend", "complements", "bundle", "evaluate", "export", "neo4j")
"""Sub-command modules under :mod:`cartgraph.cli`, in ``--help`` order."""

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SERVICE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (every sub-command registered)."""
    from cartgraph import __version__

    parser = argparse.ArgumentParser(
        prog="cartgraph",
        description="Product and bundle recommendation on a knowledge graph.",
        epilog="Run 'cartgraph COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"cartgraph {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"cartgraph.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"cartgraph.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (also used by ``python -m cartgraph``)."""
    # PyG calls the deprecated torch.jit.script at import; that FutureWarning is PyG's, not
    # something a CLI user can act on, so it is not printed on every command
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.handler(args) or 0)
    except CartgraphError as exc:
        if args.debug:
            raise
        print(f"cartgraph {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_SERVICE if isinstance(exc, ServiceError) else EXIT_USAGE
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        if args.debug:
            raise
        print(f"cartgraph {args.command}: error: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
