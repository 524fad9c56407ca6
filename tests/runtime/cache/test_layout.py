"""How the cache's modules fit together: no import cycle, tiers that build only on the local tier,
and the embedding runtime and the vector index loaded only when semantic matching is used.

Imports are read from the source (every `import`, including those inside functions and under
TYPE_CHECKING), so a cycle dodged by a late import still counts.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "runtime" / "cache"


def cache_imports() -> dict[str, set[str]]:
    """{module: the runtime.cache modules it imports}, short names (`local`, `persist`, ...)."""
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    edges: dict[str, set[str]] = {}
    for name in modules:
        found: set[str] = set()
        for node in ast.walk(ast.parse((PACKAGE / f"{name}.py").read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            for target in targets:
                parts = target.split(".")
                if parts[:2] == ["runtime", "cache"] and len(parts) > 2 and parts[2] in modules:
                    found.add(parts[2])
        edges[name] = found - {name}
    return edges


def cycle_in(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path of modules, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def test_the_cycle_finder_reports_a_cycle_dodged_through_a_third_module() -> None:
    cyclic = {"cache": {"persist"}, "persist": {"shared"}, "shared": {"cache"}, "store": set()}
    assert cycle_in(cyclic) == ["cache", "persist", "shared", "cache"], "the old three-file cycle is found"
    assert cycle_in({"cache": {"local"}, "local": {"store"}, "store": set()}) is None, "a chain is not a cycle"


def test_the_cache_modules_import_each_other_without_a_cycle() -> None:
    edges = cache_imports()
    assert {"cache", "local", "persist", "shared", "store", "index"} <= set(edges), "the parser saw the package"
    assert cycle_in(edges) is None, f"import cycle among runtime/cache modules: {cycle_in(edges)}"


def test_persistence_and_the_redis_tier_build_on_the_local_tier_only() -> None:
    edges = cache_imports()
    tiers = {"cache", "persist", "shared", "admin"}
    assert "local" in edges["persist"] and "local" in edges["shared"], "both tiers use the local tier"
    assert not edges["local"] & tiers, f"the local tier imports another tier: {edges['local'] & tiers}"
    assert not edges["persist"] & tiers, f"persistence imports another tier: {edges['persist'] & tiers}"
    assert not edges["shared"] & tiers, f"the Redis tier imports another tier: {edges['shared'] & tiers}"
    users = sorted(name for name, imported in edges.items() if {"persist", "shared"} & imported)
    assert users == ["cache"], f"only the facade composes persistence and the Redis tier, not {users}"


LOADED = """
import asyncio, json, sys, tempfile
from pathlib import Path
import runtime.cache.admin
from runtime.cache.cache import FrugalCache
from runtime.cache.protocol import CacheRequest
from runtime.cache.settings import CacheSettings

SEMANTIC = sys.argv[1] == "on"
body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2}}
request = CacheRequest("acme", "small", [{"role": "user", "content": "What is the capital of France?"}],
                       {"temperature": 0}, semantic_enabled=SEMANTIC)

async def main():
    with tempfile.TemporaryDirectory() as directory:
        cache = FrugalCache(CacheSettings(semantic_enabled=SEMANTIC, snapshot_dir=Path(directory)))
        await cache.start()
        await cache.store(request, body, tier="small")
        hit = await cache.lookup(request)
        await cache.close()
        again = FrugalCache(CacheSettings(semantic_enabled=SEMANTIC, snapshot_dir=Path(directory)))
        await again.start()
        restored = again.stats()["entries"]
        await again.close()
    modules = list(sys.modules)
    print(json.dumps({"hit": hit is not None, "restored": restored,
                      "loaded": {m: modules.index(m) for m in ("onnxruntime", "usearch") if m in sys.modules}}))

asyncio.run(main())
"""


def run_cache(semantic: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", LOADED, semantic], cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, f"the cache script runs (semantic {semantic}): {done.stderr[-2000:]}"
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_cache_without_semantic_matching_never_loads_onnxruntime_or_usearch() -> None:
    result = run_cache("off")
    assert result["hit"] is True and result["restored"] == 1, f"the exact cache works and persists: {result}"
    assert result["loaded"] == {}, f"semantic matching is off, yet these were imported: {result['loaded']}"


def test_semantic_matching_loads_onnxruntime_before_usearch() -> None:
    result = run_cache("on")
    loaded = result["loaded"]
    assert result["hit"] is True and result["restored"] == 1, f"the semantic cache works and persists: {result}"
    assert isinstance(loaded, dict) and set(loaded) == {"onnxruntime", "usearch"}, (
        f"a semantic store and lookup load both the embedding runtime and the index: {loaded}"
    )
    assert loaded["onnxruntime"] < loaded["usearch"], "onnxruntime is imported first (the other order segfaults)"


def test_an_index_made_before_any_embedding_still_loads_onnxruntime_first() -> None:
    script = (
        "import sys\nfrom runtime.cache.index import new_index\nnew_index()\nmodules = list(sys.modules)\n"
        "print(modules.index('onnxruntime') < modules.index('usearch'))"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"making an index works on its own: {done.stderr[-2000:]}"
    assert done.stdout.strip() == "True", "a snapshot restore (index first, no embedding yet) keeps the safe order"
