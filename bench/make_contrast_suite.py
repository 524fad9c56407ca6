"""Turn the hand-written contrast suite source into labelled pairs with a fixed tuning/held-out split.

    .venv/bin/python bench/make_contrast_suite.py

Reads data/semantic-cache/contrast-suite.src.txt (one line per pair: KIND<TAB>a sentence with
[word a|word b], or two whole texts joined by "||") and writes data/semantic-cache/contrast-suite.json:
`{text_a, text_b, label, kind, split}` (the format `frugal cache eval --pairs` reads; label 1 =
same question). The split is drawn once, by a seeded shuffle of the distinct substituted word
pairs, before any tuning: a word pair is either all "tune" or all "held-out", so the held-out part
tests words the method never saw. Lines after "@split NAME" go to that split instead: the "fresh"
part was written after the first held-out measurement, as a second blind test, and "fresh2" after
the fresh part's measurement and before the changes it led to, as a third.
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "data" / "semantic-cache" / "contrast-suite.src.txt"
SUITE = REPO / "data" / "semantic-cache" / "contrast-suite.json"
SPLIT_SEED = 20261128
_SLOT = re.compile(r"\[([^|\]]+)\|([^\]]+)\]")


def parse(text: str) -> list[dict[str, object]]:
    pairs: list[dict[str, object]] = []
    fixed_split: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("@split "):
            fixed_split = line.split()[1]  # the pairs below all go to this split
            continue
        kind, _, body = line.partition("\t")
        if not body:
            raise ValueError(f"{SOURCE.name}:{number}: expected KIND<TAB>sentence, got {line!r}")
        if "||" in body:
            a, b = (part.strip() for part in body.split("||"))
            key = f"{a}||{b}".lower()
        else:
            slot = _SLOT.search(body)
            if slot is None:
                raise ValueError(f"{SOURCE.name}:{number}: no [a|b] slot in {body!r}")
            a = body[: slot.start()] + slot.group(1) + body[slot.end() :]
            b = body[: slot.start()] + slot.group(2) + body[slot.end() :]
            key = "|".join(sorted((slot.group(1).lower(), slot.group(2).lower())))
        label = 1 if kind.endswith("paraphrase") else 0
        pair: dict[str, object] = {"text_a": a, "text_b": b, "label": label, "kind": kind, "key": key}
        if fixed_split:
            pair["split"] = fixed_split
        pairs.append(pair)
    return pairs


def assign_split(pairs: list[dict[str, object]]) -> None:
    keys = sorted({str(p["key"]) for p in pairs if "split" not in p})
    random.Random(SPLIT_SEED).shuffle(keys)
    held_out = set(keys[: len(keys) // 2])
    for p in pairs:
        key = p.pop("key")
        p.setdefault("split", "held-out" if key in held_out else "tune")


def main() -> int:
    pairs = parse(SOURCE.read_text())
    assign_split(pairs)
    SUITE.write_text(json.dumps(pairs, indent=1, ensure_ascii=False) + "\n")
    splits = list(dict.fromkeys(str(p["split"]) for p in pairs))
    kinds: dict[str, dict[str, int]] = {}
    for p in pairs:
        kinds.setdefault(str(p["kind"]), dict.fromkeys(splits, 0))[str(p["split"])] += 1
    for kind, counts in kinds.items():
        print(f"{kind:18s} " + "  ".join(f"{split} {n:3d}" for split, n in counts.items()))
    contrasts = sum(1 for p in pairs if p["label"] == 0)
    print(f"{len(pairs)} pairs: {contrasts} contrasts, {len(pairs) - contrasts} paraphrases -> {SUITE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
