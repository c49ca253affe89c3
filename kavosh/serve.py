"""``kavosh serve``: the production server (nginx in front of gunicorn, ``python -m web.serve``), or with
``--dev`` Flask's development server (``python -m web``); the other arguments go to the one chosen."""
from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    chooser = argparse.ArgumentParser(prog="kavosh serve", add_help=False)
    chooser.add_argument("--dev", action="store_true")
    args, rest = chooser.parse_known_args(argv)
    if args.dev:
        from web.__main__ import main as development

        return development(rest)
    if "-h" in rest or "--help" in rest:
        print("kavosh serve runs nginx in front of gunicorn (the production server, below); "
              "`kavosh serve --dev [--host H] [--port P]` runs Flask's development server instead.\n")
    from web.serve import main as production

    return production(rest)
