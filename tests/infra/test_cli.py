"""`frugal plan` as users run it, and the program as the Pulumi CLI's Python host runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from frugal.cli import main
from frugal.exit_codes import EXIT_OK, EXIT_USAGE
from tests.paths import REPO


def test_plan_json_is_the_documented_stable_structure(capsys: pytest.CaptureFixture[str]):
    assert main(["plan", "--stack", "dev", "--json"]) == EXIT_OK, "a valid stack plans"
    doc = json.loads(capsys.readouterr().out)
    assert list(doc)[:5] == ["schema", "project", "stack", "source", "resources"], "documented key order"
    assert doc["schema"] == "frugal.plan/v1" and doc["source"] == "offline", "versioned schema, offline source"
    first = doc["resources"][0]
    for key in ("urn", "type", "name", "custom", "parent", "provider", "inputs", "dependencies"):
        assert key in first, f"every resource carries {key}"


def test_plan_table_lists_every_resource_with_what_matters(capsys: pytest.CaptureFixture[str]):
    assert main(["plan", "--stack", "prod"]) == EXIT_OK, "the prod stack plans"
    out = capsys.readouterr().out
    assert "frugal-llm/prod:" in out and "resources (offline plan)" in out, "a titled table"
    assert "price-capacity-optimized" in out and "IMDS tokens required" in out, "the inputs that matter are shown"
    assert "MON-FRI" in out and "America/New_York" in out, "schedules show cron and zone"


def test_an_unknown_stack_is_a_clear_error_with_the_known_stacks(capsys: pytest.CaptureFixture[str]):
    assert main(["plan", "--stack", "staging"]) == EXIT_USAGE, "unknown stacks exit 2"
    err = capsys.readouterr().err
    assert "no stack 'staging'" in err and "dev, prod" in err, f"names what exists: {err}"


def test_an_invalid_stack_file_is_reported_not_traced(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (tmp_path / "Pulumi.broken.yaml").write_text("config:\n  frugal-llm:pools: [\n")
    assert main(["plan", "--stack", "broken", "--root", str(tmp_path)]) == EXIT_USAGE, "bad YAML exits 2"
    assert "not valid YAML" in capsys.readouterr().err, "the YAML problem is named"
    (tmp_path / "Pulumi.bad.yaml").write_text(
        (REPO / "Pulumi.dev.yaml").read_text().replace("g4dn.xlarge,", "t3.large,")
    )
    assert main(["plan", "--stack", "bad", "--root", str(tmp_path)]) == EXIT_USAGE, "invalid config exits 2"
    err = capsys.readouterr().err
    assert "frugal-llm:pools.0.instance_types" in err and "t3.large" in err, f"key and value named: {err}"
    assert "Traceback" not in err, "users see the problem, not a stack trace"


def test_the_program_runs_the_way_the_pulumi_python_host_runs_main_folder():
    # The language host executes `main: infra/` with runpy.run_path, with infra/ first on sys.path and
    # the project root as the working directory; the program must import and register resources.
    script = f"""
import runpy, sys
sys.path[:] = [{str(REPO / "infra")!r}] + [p for p in sys.path[1:] if p not in ('', {str(REPO)!r})]
import pulumi
from pulumi.runtime import mocks, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await
import json, yaml
registered = []
class Engine(pulumi.runtime.Mocks):
    def call(self, args):
        return {{"names": ["us-east-1a", "us-east-1b"], "value": "ami-1", "accountId": "123456789012"}}
    def new_resource(self, args):
        registered.append(args.typ)
        return args.name + "-id", {{**args.inputs, "name": args.name, "arn": "arn:aws:x:::y",
            "identities": [{{"oidcs": [{{"issuer": "https://oidc"}}]}}], "certificateAuthority": {{"data": "x"}},
            "kubernetesNetworkConfig": {{"serviceIpv4Cidr": "172.20.0.0/16"}},
            "vpcConfig": {{"clusterSecurityGroupId": "sg-1"}}, "latestVersion": 1}}
pulumi.runtime.set_mocks(Engine(), project="frugal-llm", stack="dev", preview=False)
cfg = yaml.safe_load(open({str(REPO / "Pulumi.dev.yaml")!r}))["config"]
pulumi.runtime.set_all_config({{k: v if isinstance(v, str) else json.dumps(v) for k, v in cfg.items()}})
_sync_await(run_pulumi_func(lambda: runpy.run_path({str(REPO / "infra")!r}, run_name="__main__")))
assert not any(p.rstrip("/").endswith("/infra") for p in sys.path), "infra/ must not shadow top-level modules"
print(len(registered), "resources")
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"the program runs as `main: infra/`: {result.stderr[-2000:]}"
    assert int(result.stdout.split()[0]) > 40, f"it registered the dev stack's resources: {result.stdout}"


def test_a_command_imports_only_its_own_module_and_help_lists_every_command():
    probe = (
        "import sys, contextlib, io\n"
        "from frugal.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['plan', '--stack', 'dev', '--json'])\n"
        "heavy = ('onnxruntime', 'runtime.app', 'policies.evaluate', 'frugal.commands.preview',\n"
        "         'frugal.commands.policy')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-1500:]
    assert result.stdout.strip() == "[]", f"`frugal plan` loads no other command's module: {result.stdout}"
    helped = subprocess.run(
        [sys.executable, "-m", "frugal", "--help"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    for name in ("plan", "prices", "preview", "diff", "policy", "serve", "cache"):
        assert name in helped.stdout, f"--help lists {name}: {helped.stdout}"
