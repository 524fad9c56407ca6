"""Re-vendor components.json from a checkout of OpenAI's OpenAPI document (no network here):

    python tests/runtime/openai_spec/extract.py /path/to/openai-openapi/openapi.json

Copies the named component schemas and everything they reference, verbatim, sorted by name.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOTS = [
    # what the router answers
    "CreateChatCompletionResponse", "CreateChatCompletionStreamResponse", "ChatCompletionResponseMessage",
    "CreateEmbeddingResponse", "ListModelsResponse", "Model", "ErrorResponse", "Error",
    # what clients send (request-shaped fuzzing and the request validator's tests)
    "CreateChatCompletionRequest", "CreateEmbeddingRequest",
]  # fmt: skip
PREFIX = "#/components/schemas/"


def _refs(node: Any, into: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(PREFIX):
            into.add(ref[len(PREFIX) :])
        for value in node.values():
            _refs(value, into)
    elif isinstance(node, list):
        for value in node:
            _refs(value, into)


def closure(schemas: dict[str, Any], roots: list[str]) -> dict[str, Any]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        found: set[str] = set()
        _refs(schemas[name], found)
        todo.extend(found - seen)
    return {name: schemas[name] for name in sorted(seen)}


def main(source: str) -> None:
    spec = json.loads(Path(source).read_text())
    out = {
        "openapi": spec["openapi"],
        "info": {"title": spec["info"]["title"], "version": spec["info"]["version"]},
        "components": {"schemas": closure(spec["components"]["schemas"], ROOTS)},
    }
    target = Path(__file__).with_name("components.json")
    target.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"{target}: {len(out['components']['schemas'])} schemas from version {spec['info']['version']}")


if __name__ == "__main__":
    main(sys.argv[1])
