"""Dependencies by role: the base install is the router; the stack side and the tests are extras;
the images install and copy only what the router needs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DOCKERFILES = [ROOT / "runtime" / "Dockerfile", ROOT / "runtime" / "Dockerfile.cpu"]
STACK_ONLY = {"pulumi", "pulumi-aws", "pulumi-policy", "boto3", "croniter", "rich"}


def _names(requirements: list[str]) -> list[str]:
    return [re.split(r"[<>=!~;\[ ]", r.strip(), maxsplit=1)[0].lower() for r in requirements]


def _pins() -> list[str]:
    lines = (ROOT / "runtime" / "requirements.txt").read_text().splitlines()
    return _names([line for line in lines if line.strip() and not line.startswith("#")])


def test_the_base_install_is_the_router_and_the_stack_side_is_an_extra() -> None:
    base = set(_names(PYPROJECT["project"]["dependencies"]))
    stack = set(_names(PYPROJECT["project"]["optional-dependencies"]["stack"]))
    assert not base & STACK_ONLY, f"the router's install carries no Pulumi-side package: {sorted(base & STACK_ONLY)}"
    assert stack >= STACK_ONLY, f"the stack extra has what infra/ and policies/ import: {sorted(STACK_ONLY - stack)}"


def test_no_extra_lists_a_package_twice() -> None:
    for extra, requirements in PYPROJECT["project"]["optional-dependencies"].items():
        names = _names(requirements)
        twice = sorted({n for n in names if names.count(n) > 1})
        assert not twice, f"[{extra}] lists {twice} more than once"


def test_the_image_pins_exactly_the_routers_dependencies() -> None:
    pins = _pins()
    # The image also runs the model server's init step (runtime/modelfetch.py): the model-fetch extra.
    base = set(_names(PYPROJECT["project"]["dependencies"]))
    base |= set(_names(PYPROJECT["project"]["optional-dependencies"]["model-fetch"]))
    assert len(pins) == len(set(pins)), f"runtime/requirements.txt pins each package once: {pins}"
    assert set(pins) == base, (
        f"the image pins the base install and the model-fetch extra, nothing else: missing {sorted(base - set(pins))}, "
        f"extra {sorted(set(pins) - base)}"
    )


def test_the_images_copy_only_the_runtime() -> None:
    for dockerfile in DOCKERFILES:
        copied = re.findall(r"^COPY\s+(\S+)", dockerfile.read_text(), re.M)
        tops = {c.split("/")[0] for c in copied}
        assert tops == {"runtime"}, f"{dockerfile.name} copies only runtime/ (the router), not {sorted(tops)}"
