"""Entry point for the Pulumi CLI (`main: infra/` in Pulumi.yaml).

The Python language host runs this file with infra/ itself first on sys.path. The program imports
`infra.*` absolutely, so the repository root must be importable instead, and infra/'s own modules
(config, schedule, ...) must not shadow top-level packages of the same name: swap the one for the
other. `make setup` also installs the repo into .venv, so this matters only for a bare checkout.
"""

import sys
from pathlib import Path

_here = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
sys.path.insert(0, str(_here.parent))

from infra.config import load  # noqa: E402
from infra.program import build  # noqa: E402

build(load())
