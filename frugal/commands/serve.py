"""`frugal serve [--config PATH]`: the router, run locally (the same as `python -m runtime`)."""

from __future__ import annotations

import argparse


def configure(p: argparse.ArgumentParser) -> None:
    from runtime.__main__ import add_arguments

    add_arguments(p)


def run(args: argparse.Namespace) -> int:
    """Run the OpenAI-compatible router (and its llama-servers) locally."""
    from runtime.__main__ import serve

    return serve(args, prog="frugal serve")
