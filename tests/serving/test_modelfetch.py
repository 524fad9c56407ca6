"""The init step (runtime.modelfetch) against a local S3: verified download into the digest-keyed
cache, reuse without a download, refusal of a wrong object with nothing left behind."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime import modelfetch
from tests.serving.s3_server import CountingMotoServer, local_s3

BUCKET = "models"
BLOB = os.urandom(3 * 1024 * 1024 + 17)  # not a multiple of the chunk size: the tail is hashed too
DIGEST = hashlib.sha256(BLOB).hexdigest()


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[CountingMotoServer]:
    with local_s3() as server:
        for k, v in server.env().items():
            monkeypatch.setenv(k, v)
        server.client().create_bucket(Bucket=BUCKET)
        yield server


def _req(cache: Path, key: str = "m.gguf", sha: str = DIGEST, size: int = len(BLOB)) -> modelfetch.Request:
    return modelfetch.Request(BUCKET, key, sha, size, cache)


def _run(
    cache: Path, key: str = "m.gguf", sha: str = DIGEST, size: int = len(BLOB)
) -> subprocess.CompletedProcess[str]:
    argv = ["--uri", f"s3://{BUCKET}/{key}", "--sha256", sha, "--size", str(size), "--cache-dir", str(cache)]
    return subprocess.run(
        [sys.executable, "-m", "runtime.modelfetch", *argv], capture_output=True, text=True, check=False, timeout=120
    )


def test_the_first_fetch_verifies_and_caches_and_the_second_downloads_nothing(s3: CountingMotoServer, tmp_path: Path):
    s3.client().put_object(Bucket=BUCKET, Key="m.gguf", Body=BLOB)
    first = _run(tmp_path)
    assert first.returncode == 0, f"the verified object is accepted: {first.stdout}{first.stderr}"
    assert '"outcome": "downloaded"' in first.stdout, f"the first start downloads: {first.stdout}"
    target = tmp_path / f"{DIGEST}.gguf"
    assert target.read_bytes() == BLOB, "the cache holds exactly the object, under its digest"
    assert (tmp_path / f"{DIGEST}.verified").is_file(), "and the marker that says it was verified"
    assert s3.gets(BUCKET, "m.gguf") == 1, "one GET"
    second = _run(tmp_path)
    assert second.returncode == 0 and '"outcome": "hit"' in second.stdout, f"a restart reuses it: {second.stdout}"
    assert s3.gets(BUCKET, "m.gguf") == 1, "the second start made no GET"


def test_a_corrupted_object_is_refused_and_leaves_nothing_a_later_pod_could_use(s3: CountingMotoServer, tmp_path: Path):
    corrupted = bytearray(BLOB)
    corrupted[1000] ^= 0xFF
    s3.client().put_object(Bucket=BUCKET, Key="m.gguf", Body=bytes(corrupted))
    r = _run(tmp_path)
    assert r.returncode == modelfetch.EXIT_MISMATCH, f"a digest mismatch fails the pod: {r.stdout}{r.stderr}"
    assert "is not the pinned model" in r.stdout and DIGEST in r.stdout, f"the message names both digests: {r.stdout}"
    assert "Traceback" not in r.stdout + r.stderr, "one clear line, no stack trace"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [], (
        "no model file, marker or partial download is left behind"
    )


def test_an_object_larger_than_pinned_is_refused_without_reading_it_all(s3: CountingMotoServer, tmp_path: Path):
    s3.client().put_object(Bucket=BUCKET, Key="big.gguf", Body=BLOB + os.urandom(20 * 1024 * 1024))
    with pytest.raises(modelfetch.FetchError) as caught:
        modelfetch.fetch(_req(tmp_path, key="big.gguf"), s3.client())
    assert caught.value.code == modelfetch.EXIT_MISMATCH and "bytes" in str(caught.value), str(caught.value)
    assert not list(tmp_path.glob("*.gguf")) and not list(tmp_path.glob(".*.part")), "nothing is left"


def test_a_missing_object_fails_with_one_clear_line(s3: CountingMotoServer, tmp_path: Path):
    r = _run(tmp_path, key="absent.gguf")
    assert r.returncode == modelfetch.EXIT_FETCH, f"exit 4 on an S3 error: {r.stdout}{r.stderr}"
    assert "NoSuchKey" in r.stdout and "Traceback" not in r.stdout + r.stderr, r.stdout


def test_a_cached_file_whose_size_changed_is_fetched_again(s3: CountingMotoServer, tmp_path: Path):
    s3.client().put_object(Bucket=BUCKET, Key="m.gguf", Body=BLOB)
    assert modelfetch.fetch(_req(tmp_path), s3.client()) == "downloaded", "first fetch"
    with (tmp_path / f"{DIGEST}.gguf").open("r+b") as f:
        f.truncate(100)
    assert modelfetch.fetch(_req(tmp_path), s3.client()) == "downloaded", "a truncated cache entry is not trusted"
    assert (tmp_path / f"{DIGEST}.gguf").read_bytes() == BLOB, "and is replaced by the verified object"


def test_a_model_without_its_marker_is_not_trusted(s3: CountingMotoServer, tmp_path: Path):
    s3.client().put_object(Bucket=BUCKET, Key="m.gguf", Body=BLOB)
    (tmp_path / f"{DIGEST}.gguf").write_bytes(BLOB)  # as if a fetch crashed between rename and marker
    assert modelfetch.fetch(_req(tmp_path), s3.client()) == "downloaded", "no marker, no trust"


def test_reverify_rehashes_a_cached_file(s3: CountingMotoServer, tmp_path: Path):
    s3.client().put_object(Bucket=BUCKET, Key="m.gguf", Body=BLOB)
    modelfetch.fetch(_req(tmp_path), s3.client())
    with (tmp_path / f"{DIGEST}.gguf").open("r+b") as f:
        f.seek(10)
        f.write(b"\x00\x01")  # same size, different bytes: only a full hash notices
    req = modelfetch.Request(BUCKET, "m.gguf", DIGEST, len(BLOB), tmp_path, reverify=True)
    assert modelfetch.fetch(req, s3.client()) == "downloaded", "--reverify catches a changed byte"


def test_pods_fetching_the_same_digest_at_once_download_it_once(s3: CountingMotoServer, tmp_path: Path):
    s3.client().put_object(Bucket=BUCKET, Key="m.gguf", Body=BLOB)
    outcomes: list[str] = []
    threads = [
        threading.Thread(target=lambda: outcomes.append(modelfetch.fetch(_req(tmp_path), s3.client())))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["downloaded", "hit", "hit"], f"one download, two reuses: {outcomes}"
    assert s3.gets(BUCKET, "m.gguf") == 1, "one GET for three pods"


def test_bad_arguments_exit_2_with_the_reason(tmp_path: Path):
    r = subprocess.run(
        [sys.executable, "-m", "runtime.modelfetch", "--uri", "https://x", "--sha256", "a", "--size", "1",
         "--cache-dir", str(tmp_path)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2 and "is not s3://bucket/key" in r.stderr, r.stderr
