"""Entry point for the Pulumi CLI (`pulumi preview --policy-pack policies`): assembles the pack, nothing else.

The CLI runs `python -m pulumi.policy <engine> .` in this directory, which executes this file with
policies/ itself first on sys.path. The rules import `policies.*` and `infra.*` absolutely, so
the repository root must be importable instead (as infra/__main__.py arranges for the program).
Building the PolicyPack starts the analyzer's gRPC server and blocks until the engine is done,
which is why the rules live in importable modules that tests and `frugal policy` call directly.
"""

import sys
from pathlib import Path

_here = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
sys.path.insert(0, str(_here.parent))

from pulumi_policy import PolicyPack  # noqa: E402

from policies.registry import DEFAULT_ENFORCEMENT, PACK_NAME, policies  # noqa: E402

PolicyPack(name=PACK_NAME, policies=policies(), enforcement_level=DEFAULT_ENFORCEMENT)
