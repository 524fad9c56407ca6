"""The advisor stays pure arithmetic over data files: what it imports, and what it does not hard-code."""

from __future__ import annotations

import ast
import json
from pathlib import Path

ADVISOR = Path(__file__).resolve().parents[2] / "infra" / "advisor"
FORBIDDEN = ("pulumi", "pulumi_aws", "runtime", "frugal", "policies", "infra.cli", "infra.cost")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_advisor_imports_no_pulumi_cli_runtime_or_cost_model() -> None:
    sources = sorted(ADVISOR.glob("*.py"))
    assert len(sources) >= 10, "the advisor's modules are found"
    for path in sources:
        bad = {n for n in _imports(path) if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)}
        assert not bad, f"{path.name} imports {bad}: the advisor must stay pure and below the CLI"


def test_measured_speeds_are_read_from_the_data_file_not_written_into_the_code() -> None:
    data = json.loads((ADVISOR.parent / "data" / "llama-cpp-speed.json").read_text())
    code = "\n".join(p.read_text() for p in ADVISOR.glob("*.py"))
    for run in data["runs"]:
        for value in (run["single_stream_tps"], *run["aggregate_tps"].values()):
            # as decimals: whole numbers such as 1024 occur in the code for other reasons
            for text in (f"{value:.1f}", f"{value:.2f}"):
                assert text not in code, f"{run['weight_type']}: measured {text} appears in the advisor's code"
