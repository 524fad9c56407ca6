"""`frugal advise` through its own parser (configure + run), as the CLI registry will call it."""

from __future__ import annotations

import argparse
import json

import pytest

from frugal.commands import advise


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="frugal advise")
    advise.configure(parser)
    return advise.run(parser.parse_args(argv))


def test_a_family_prints_memory_and_a_ranked_table(capsys: pytest.CaptureFixture[str]) -> None:
    code = _run(["--family", "llama-2-13b", "--quant", "F16", "--quant", "Q4_K_M", "--ctx", "4096", "--top", "5"])
    out = capsys.readouterr().out
    assert code == 0, "ok"
    assert "Memory per server" in out and "--ctx-size 4096 --parallel 1" in out, "the llama-server flags"
    assert "Too small for F16: " in out and "g5.xlarge" in out.split("Too small for F16: ")[1], "24 GB too small"
    assert "What is measured and what is scaled" in out, "the table says which figures are scaled"
    assert out.count("\n 1  ") + out.count("\n1  ") == 1, "one row ranked first"


def test_json_output_is_the_advice_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["--family", "llama-3-8b", "--parallel", "4", "--max-kld", "0.01", "--json"]) == 0, "ok"
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "frugal.advice/v1", "versioned document"
    assert doc["request"]["quants"] == ["F16", "Q8_0", "Q6_K"], "types within KLD 0.01"
    assert set(doc["excluded_quantizations"]) == {"Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K"}, "and why not"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--family", "gpt-5"], "unknown model family 'gpt-5'; known: "),
        (["--family", "llama-3-8b", "--quant", "Q2_K", "--max-kld", "0.05"], "above --max-kld 0.05"),
        (["--family", "llama-3-8b", "--quant", "Q7_X"], "no published figures for quantization 'Q7_X'"),
        (["--family", "llama-3-8b", "--kv-type", "f8"], "unknown KV cache type 'f8'"),
        (["--model", "/nonexistent/model.gguf"], "does not exist or is not a file"),
    ],
)
def test_bad_input_exits_2_with_what_and_how_to_fix(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(argv) == 2, f"{argv} is bad input"
    err = capsys.readouterr().err
    assert err.startswith("frugal advise: ") and message in err, err


def test_argument_errors_are_argparse_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _run(["--family", "llama-3-8b", "--parallel", "0"])
    assert exc.value.code == 2 and "must be at least 1" in capsys.readouterr().err, "usage error, exit 2"


def test_the_tutorial_part_2_is_recomputed_with_a_note_on_its_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["--tutorial"]) == 0, "ok"
    out = capsys.readouterr().out
    assert "$1,366.56" in out and "$1,314.00" in out, "the formula's result and the printed one"
    assert "monthly difference: $" in out, "the real difference between the cheapest instances"
