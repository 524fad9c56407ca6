"""`python -m runtime [--config PATH] [--host H] [--port N] [--check]`: the router (the image's entrypoint).

`frugal serve` is the same command: it reuses `add_arguments` and `serve`. This module imports only
the runtime, so the serving image needs neither the Pulumi program nor the policy pack. Exit codes
as `frugal`'s: 0 ok, 2 bad config.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK = 0
EXIT_USAGE = 2


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", type=Path, default=None, help="router YAML (docs/runtime.md); default: the embedded small model"
    )
    p.add_argument("--host", default=None, help="override server.host")
    p.add_argument("--port", type=int, default=None, help="override server.port")
    p.add_argument("--check", action="store_true", help="validate the config, print the tiers and exit")


def serve(args: argparse.Namespace, prog: str = "python -m runtime") -> int:
    """Resolve the settings (config file or the embedded default), then serve, or only print them (--check)."""
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
        print(f"{prog}: {exc}", file=sys.stderr)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime", description="Run the OpenAI-compatible router.")
    add_arguments(parser)
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
