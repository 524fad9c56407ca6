"""`frugal serve [--config PATH]`: registered into infra/cli.py through COMMAND_MODULES."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from infra.cli import EXIT_OK, EXIT_USAGE, command


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", type=Path, default=None, help="router YAML (docs/runtime.md); default: the embedded small model"
    )
    p.add_argument("--host", default=None, help="override server.host")
    p.add_argument("--port", type=int, default=None, help="override server.port")
    p.add_argument("--check", action="store_true", help="validate the config, print the tiers and exit")


@command("serve", _serve_args)
def serve_command(args: argparse.Namespace) -> int:
    """Run the OpenAI-compatible router (and its llama-servers) locally."""
    import os

    from runtime.assets import AssetError
    from runtime.serve import resolve_settings, run
    from runtime.settings import SettingsError

    env = dict(os.environ)
    if args.host:
        env["FRUGAL_HOST"] = args.host
    if args.port:
        env["FRUGAL_PORT"] = str(args.port)
    try:
        settings = resolve_settings(args.config, env)
    except (SettingsError, AssetError) as exc:
        print(f"frugal serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.check:
        for t in settings.tiers:
            p, c = t.price.per_1k()
            where = t.url or f"local {t.local.model_path if t.local else ''}"
            print(f"{t.name}: {where}; ${p:.6f}/1k prompt, ${c:.6f}/1k completion; max_complexity {t.max_complexity}")
            d = t.price.derived
            if d is not None:
                print(
                    f"  price derived: ${d.instance_hourly_usd}/h / (3600 s x {d.prompt_tokens_per_second} prompt | "
                    f"{d.completion_tokens_per_second} completion tokens/s x {d.utilization} busy) x 1000"
                    + (f"; {d.source}" if d.source else "")
                )
        return EXIT_OK
    run(settings)
    return EXIT_OK
