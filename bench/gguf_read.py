"""Time reading a GGUF model's header: infra/gguf_file.py against the gguf library's GGUFReader, in one process.

With --old-tree (a checkout of an older commit) the readers that gguf_file.py replaced are timed too,
side by side: the advisor's `read_gguf` (GGUFReader plus arithmetic) and serving sizing's
`gguf_metadata` (a hand-written reader that skipped arrays). CPU seconds (process_time) are the steadier
figure on a shared machine; each reader runs --runs times (the library's once: it takes seconds).

    git archive 4d7afde infra | (mkdir -p /tmp/gguf-old && tar -x -C /tmp/gguf-old)
    .venv/bin/python bench/gguf_read.py --old-tree /tmp/gguf-old --runs 3
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

# Run as a script (`python bench/x.py`), so the repository root is not on sys.path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _load(path: Path, name: str) -> ModuleType:
    """A module of another checkout under its own name; its `infra.*` imports resolve to this tree."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: not a Python module; fix: pass --old-tree a checkout that has it")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _time(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    """(median CPU seconds, median wall seconds) of `runs` calls."""
    cpu, wall = [], []
    for _ in range(runs):
        c, w = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return statistics.median(cpu), statistics.median(wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a .gguf file (default: the embedded small model)")
    parser.add_argument("--old-tree", type=Path, help="a checkout with the replaced readers, to time them too")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    import gguf

    from infra.advisor.gguf_meta import read_gguf
    from infra.gguf_file import read_gguf_file
    from runtime.assets import small_model

    model = args.model or small_model()
    cases: list[tuple[str, Callable[[], Any], int]] = [
        ("infra.gguf_file.read_gguf_file (metadata, arrays included)", lambda: read_gguf_file(model), args.runs),
        ("infra.gguf_file.read_gguf_file(tensors=True)", lambda: read_gguf_file(model, tensors=True), args.runs),
        ("infra.advisor.gguf_meta.read_gguf (new: facts via gguf_file)", lambda: read_gguf(model), args.runs),
    ]
    if args.old_tree:
        old_sizing = _load(args.old_tree / "infra" / "serving_sizing.py", "old_serving_sizing")
        old_meta = _load(args.old_tree / "infra" / "advisor" / "gguf_meta.py", "old_gguf_meta")
        cases += [
            ("old serving_sizing.gguf_metadata (arrays skipped)", lambda: old_sizing.gguf_metadata(model), args.runs),
            ("old advisor gguf_meta.read_gguf (GGUFReader)", lambda: old_meta.read_gguf(model), 1),
        ]
    else:
        cases.append(("gguf.GGUFReader (the library)", lambda: gguf.GGUFReader(model), 1))
    print(f"model: {model} ({model.stat().st_size:,} bytes)")
    print(f"{'reader':64} {'CPU s':>8} {'wall s':>8} runs")
    for name, fn, runs in cases:
        cpu, wall = _time(fn, runs)
        print(f"{name:64} {cpu:8.3f} {wall:8.3f} {runs}")


if __name__ == "__main__":
    main()
