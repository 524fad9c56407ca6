"""`frugal serve` and `python -m runtime`: the same arguments, the same checks, exit 2 on a bad config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from frugal.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_serve_check_validates_a_config_and_prints_prices(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve", "--config", str(ROOT / "runtime" / "router.example.yaml"), "--check"])
    out = capsys.readouterr().out
    assert code == 0, "a valid config exits 0"
    assert "small: local /models/model.gguf; $0.000146/1k prompt, $0.001461/1k completion" in out, out


def test_serve_with_a_broken_config_exits_2_with_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("tiers:\n  - name: x\n    url: http://x\n")
    code = main(["serve", "--config", str(bad), "--check"])
    assert code == 2, "an invalid config is a usage error"
    assert "tiers.0.price" in capsys.readouterr().err, "the message names the missing key"


def test_python_m_runtime_checks_a_config_without_loading_the_stack_side(tmp_path: Path) -> None:
    probe = (
        "import sys, contextlib, io\n"
        "import runtime.__main__ as entry\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        f"    code = entry.main(['--config', {str(ROOT / 'runtime' / 'router.example.yaml')!r}, '--check'])\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'infra', 'policies', 'frugal', 'pulumi'})\n"
        "print(code, loaded, 'small: local' in out.getvalue())\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"the probe ran: {result.stderr[-1500:]}"
    assert result.stdout.strip() == "0 [] True", (
        f"the image's entrypoint validates the config and imports neither infra, policies, frugal nor pulumi: "
        f"{result.stdout}"
    )
