"""`frugal cache eval` on small pair files in both formats, with the production embedder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from frugal.cli import main

LABELLED = [
    {"text_a": "How do I reset my password?", "text_b": "How can I reset my password?", "label": 1},
    {"text_a": "Is chocolate good for dogs?", "text_b": "Is chocolate bad for dogs?", "label": 0},
    {"text_a": "What is the capital of France?", "text_b": "How tall is Mount Everest?", "label": 0},
]
PARAPHRASE = [
    {"origin": "How do I reset my password?", "similar": "How can I reset my password?"},
    {"origin": "What is the capital of France?", "similar": "Which city is the capital of France?"},
]


def test_eval_reports_precision_recall_and_hit_rate_as_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps(LABELLED))
    assert main(["cache", "eval", "--pairs", str(path), "--json", "--threshold", "0.9"]) == 0, "eval succeeds"
    report = json.loads(capsys.readouterr().out)
    at = report["at_threshold"]
    assert report["format"] == "labelled" and report["pairs"] == 3, "the labelled format is recognised"
    assert (at["hits"], at["true_hits"]) == (1, 1), f"only the paraphrase hits; the antonym pair is rejected ({at})"
    assert at["precision"] == 1.0 and at["recall"] == 1.0, "precision and recall are computed on the labels"
    raw = next(r for r in report["sweep"] if r["threshold"] == 0.9)["raw"]
    assert raw["hits"] == 2, "raw cosine at 0.90 also takes the antonym pair: verification is what rejects it"


def test_eval_reads_the_origin_similar_format_and_runs_gptcache_retrieval(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "para.json"
    path.write_text(json.dumps(PARAPHRASE))
    assert main(["cache", "eval", "--pairs", str(path), "--preset", "balanced", "--retrieval"]) == 0, "eval succeeds"
    out = capsys.readouterr().out
    assert "paraphrase" in out and "threshold sweep" in out and "retrieval" in out, "table and retrieval printed"


def test_a_file_in_neither_format_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"question": "x"}]))
    assert main(["cache", "eval", "--pairs", str(path)]) == 2, "exit code 2 for a bad pairs file"
    assert "text_a/text_b/label or origin/similar" in capsys.readouterr().out, "the message says how to fix it"
