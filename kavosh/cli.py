"""``kavosh COMMAND``: the commands, their shared options, logging set-up and exit codes, defined once.

Each command is the module a ``python -m`` form runs (``kavosh rebuild`` is ``python -m index.rebuild``),
so both forms take the same arguments and print the same help. The options shared by every command
(``--index``, ``--model``, ``-v``, ``-q``) come before the command name and set the configuration the
command reads (``settings.py``), exactly as the environment variables do.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

# Exit statuses of every command.
EXIT_OK = 0
EXIT_FAILED = 1  # the work could not be done (bad input, missing or damaged index); the message says why
EXIT_USAGE = 2  # the command line itself is wrong (argparse's status)
EXIT_INTERRUPTED = 130  # Ctrl-C; the live index is unchanged

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
# libraries whose information messages are about their own workings: hazm, imported on first use, makes a
# gensim Dictionary as it loads, and gensim logs that at INFO; shown with -v only
CHATTY_LIBRARIES = ("gensim",)


@dataclass(frozen=True)
class Command:
    module: str  # what ``python -m`` runs; its ``main(argv) -> int`` does the work
    help: str


COMMANDS = {
    "rebuild": Command("index.rebuild", "build the index from article files or folders (replaces the live version)"),
    "update": Command("index.update", "add, replace or delete articles in the live index"),
    "search": Command("search.__main__", "search the index from the command line"),
    "serve": Command("kavosh.serve", "run the search site and API: nginx + gunicorn (--dev: Flask's development server)"),
    "evaluate": Command("search.evaluate", "measure search quality on the benchmark tasks in ../shared/data"),
    "info": Command("index.info", "what the live index holds: version, model, counts, categories, dates"),
}


def setup_logging(verbosity: int, default: int = logging.INFO) -> None:
    """Logging for every command: warnings and errors with ``-q``, the command's ``default`` level without
    an option, debug messages with ``-v``. A later call without ``force`` (the command's own) changes nothing."""
    level = {-1: logging.WARNING, 0: default}.get(verbosity, logging.DEBUG)
    logging.basicConfig(level=level, format=LOG_FORMAT, force=verbosity != 0)
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if verbosity > 0 else logging.WARNING)


def parser() -> argparse.ArgumentParser:
    commands = "\n".join(f"  {name:<9} {command.help}" for name, command in COMMANDS.items())
    result = argparse.ArgumentParser(
        prog="kavosh", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Kavosh: semantic search for Persian (and English) news archives.",
        epilog=f"commands:\n{commands}\n\n`kavosh COMMAND --help` describes a command's own options.\n"
               f"exit status: {EXIT_OK} done, {EXIT_FAILED} failed (the message says why), {EXIT_USAGE} bad command "
               f"line, {EXIT_INTERRUPTED} interrupted.")
    result.add_argument("--index", type=Path, help="index folder (env KAVOSH_INDEX)")
    result.add_argument("--model", help="embedding model name or folder (env KAVOSH_MODEL)")
    loudness = result.add_mutually_exclusive_group()
    loudness.add_argument("-v", "--verbose", action="store_const", const=1, default=0, dest="verbosity",
                          help="debug messages too")
    loudness.add_argument("-q", "--quiet", action="store_const", const=-1, dest="verbosity",
                          help="only warnings and errors")
    result.add_argument("command", choices=COMMANDS, metavar="COMMAND", help="one of: " + ", ".join(COMMANDS))
    result.add_argument("args", nargs=argparse.REMAINDER, help="the command's own arguments")
    return result


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.verbosity:  # else each command sets its own default level (search: warnings only)
        setup_logging(args.verbosity)
    # the shared options are configuration: passed on the way settings.py reads it
    for name, value in (("KAVOSH_INDEX", args.index), ("KAVOSH_MODEL", args.model)):
        if value is not None:
            os.environ[name] = str(value)
    try:
        command = importlib.import_module(COMMANDS[args.command].module)
        return command.main(args.args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ValueError as exc:  # a setting read from the environment, e.g. KAVOSH_PORT, is not usable
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
