"""`frugal`: the parser, the command registry, dispatch and the mapping of errors to exit codes.

Exit codes (frugal.exit_codes): 0 ok; 2 bad usage or input (nothing was run or created); 3 over
budget; 4 a mandatory policy violation.

`COMMANDS` maps a command name to "module:configure:run". Only the chosen command's module is
imported: `frugal plan` must not pay for onnxruntime or the router (~0.5 s); `--help` (or a typo)
imports every module to list them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

from frugal.exit_codes import EXIT_OK, EXIT_USAGE

Configure = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]

# In the order `frugal --help` lists them.
COMMANDS: dict[str, str] = {
    "plan": "frugal.commands.plan:configure:run",
    "prices": "frugal.commands.prices:configure:run",
    "preview": "frugal.commands.preview:configure:run",
    "diff": "frugal.commands.preview:configure_diff:run_diff",
    "policy": "frugal.commands.policy:configure:run",
    "cache": "frugal.commands.cache:configure:run",
    "serve": "frugal.commands.serve:configure:run",
    "advise": "frugal.commands.advise:configure:run",
    "drain": "frugal.commands.drain:configure:run",
}

# Domain errors that mean "bad input" (exit 2), as "module:Class". They are looked up only in
# modules the command has already imported: an error class that was never loaded cannot be raised,
# and looking it up must not import its module (`frugal serve` does not load the Pulumi program).
USAGE_ERRORS: tuple[str, ...] = ("infra.config:ConfigError", "infra.offline:StackFileError")


def resolve(name: str) -> tuple[Configure, Run]:
    """Import the module of one command and return its configure and run functions."""
    module_name, configure, run = COMMANDS[name].split(":")
    module = importlib.import_module(module_name)
    return getattr(module, configure), getattr(module, run)


def _help(run: Run) -> str | None:
    return (run.__doc__ or "").strip().splitlines()[0] if run.__doc__ else None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    chosen = words[0] if words else None
    # Configure only the chosen command's parser (configuring may import heavy modules); all for help.
    names = [chosen] if chosen in COMMANDS else list(COMMANDS)
    parser = argparse.ArgumentParser(prog="frugal", description="Cost-optimised self-hosted LLMs on AWS.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in names:
        configure, run = resolve(name)
        p = sub.add_parser(name, help=_help(run))
        configure(p)
        p.set_defaults(run=run)
    return parser


def _usage_errors() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = [FileNotFoundError]
    for ref in USAGE_ERRORS:
        module_name, cls = ref.split(":")
        module = sys.modules.get(module_name)
        if module is not None:
            found.append(getattr(module, cls))
    return tuple(found)


def main(argv: list[str] | None = None) -> int:
    args = build_parser(argv).parse_args(argv)
    run: Run = args.run
    try:
        return run(args)
    except BrokenPipeError:
        # `frugal plan --json | head` closed the pipe: not an error of ours.
        sys.stderr.close()
        return EXIT_OK
    except Exception as exc:
        if isinstance(exc, _usage_errors()):
            print(f"frugal {args.command}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        raise


if __name__ == "__main__":
    sys.exit(main())
