"""`frugal`: the one console script for what users run by hand.

Exit codes: 0 ok; 2 bad usage, unknown stack or invalid config (nothing was run or created).
Subcommands register themselves in `COMMANDS`; later issues add preview, diff, policy, prices, serve.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

_REFERENCE = Path(__file__).resolve().parent.parent / "data" / "shared"
EXIT_OK = 0
EXIT_USAGE = 2

COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}
# Modules that register more subcommands with @command when imported (one line per area).
# Command name -> the module that registers it with @command. Only the module of the command being
# run is imported: `frugal plan` must not pay for onnxruntime or the router (~0.5 s).
COMMAND_MODULES: dict[str, str] = {
    "preview": "infra.cost.cli",
    "diff": "infra.cost.cli",
    "policy": "policies.command",
    "serve": "runtime.cli",
    "cache": "runtime.cache.cli",
}


def command(name: str, configure: Callable[[argparse.ArgumentParser], None]):
    def register(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS[name] = (configure, run)
        return run

    return register


def _plan_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    p.add_argument("--json", action="store_true", help="print the frugal.plan/v1 JSON document (infra/plan.py)")
    p.add_argument("--root", type=Path, default=None, help="project directory (default: this repository)")


@command("plan", _plan_args)
def plan_command(args: argparse.Namespace) -> int:
    """Run the program for a stack offline and print every resource it would create."""
    from infra.offline import REPO_ROOT, run_offline

    plan = run_offline(args.stack, args.root or REPO_ROOT)
    if args.json:
        print(json.dumps(plan.to_json_dict(), indent=2, sort_keys=False))
    else:
        from infra.render_plan import plan_table  # rich costs ~0.1 s to import; JSON users skip it

        plan_table(plan)
    return EXIT_OK


def _prices_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    derive = sub.add_parser("derive", help="rebuild infra/data/aws-catalog.json from the shared AWS snapshots")
    derive.add_argument("--on-demand", type=Path, default=_REFERENCE / "aws" / "ec2-on-demand-us-east-1.json")
    derive.add_argument("--spot-advisor", type=Path, default=_REFERENCE / "aws" / "spot-advisor-data.json")
    derive.add_argument("--spot-as-of", default="2025-06-28", help="date of the spot advisor snapshot")
    from infra.cost.cli import add_refresh_parser

    add_refresh_parser(sub)


@command("prices", _prices_args)
def prices_command(args: argparse.Namespace) -> int:
    from infra.catalog import CATALOG_PATH, derive_catalog

    if args.action == "refresh":
        from infra.cost.cli import refresh_command

        return refresh_command(args)
    if args.action == "derive":
        for path in (args.on_demand, args.spot_advisor):
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path} not found; fix: pass --on-demand/--spot-advisor with the snapshot paths"
                )
        data = derive_catalog(args.on_demand, args.spot_advisor, spot_as_of=args.spot_as_of)
        CATALOG_PATH.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        print(f"wrote {CATALOG_PATH} ({len(data['instances'])} instance types)")
    return EXIT_OK


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    import importlib

    words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    chosen = words[0] if words else None
    if chosen in COMMAND_MODULES:
        modules = {COMMAND_MODULES[chosen]}
    elif chosen in COMMANDS:
        modules = set()
    else:  # help, or a typo: list every command
        modules = set(COMMAND_MODULES.values())
    for module in sorted(modules):
        importlib.import_module(module)
    parser = argparse.ArgumentParser(prog="frugal", description="Cost-optimised self-hosted LLMs on AWS.")
    sub = parser.add_subparsers(dest="command", required=True)
    # Configure only the chosen command's parser (configuring may import heavy modules); all for help.
    names = [chosen] if chosen in COMMANDS else list(COMMANDS)
    for name in names:
        configure, run = COMMANDS[name]
        p = sub.add_parser(name, help=(run.__doc__ or "").strip().splitlines()[0] if run.__doc__ else None)
        configure(p)
        p.set_defaults(run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    from infra.config import ConfigError
    from infra.offline import StackFileError

    args = build_parser(argv).parse_args(argv)
    try:
        return args.run(args)
    except (ConfigError, StackFileError, FileNotFoundError) as exc:
        print(f"frugal {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # `frugal plan --json | head` closed the pipe: not an error of ours.
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    # `python -m infra.cli` runs this file as __main__, a second copy of the module: command modules
    # register into infra.cli.COMMANDS, so dispatch through the imported module, not this copy.
    from infra import cli

    sys.exit(cli.main())
