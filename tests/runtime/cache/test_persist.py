"""Snapshot + index files: a restart keeps the cache; damaged files are logged and rebuilt, never fatal."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from runtime.cache.cache import FrugalCache
from runtime.cache.metrics import CacheMetrics
from runtime.cache.persist import SNAPSHOT_NAME, partition_file
from runtime.cache.settings import CacheSettings
from tests.runtime.cache.conftest import Clock, answer, ask

pytestmark = pytest.mark.anyio


def make(embedder, directory: Path, clock: Clock | None = None) -> FrugalCache:
    return FrugalCache(
        CacheSettings(snapshot_dir=directory),
        metrics=CacheMetrics(CollectorRegistry()),
        embedder=embedder,
        clock=clock or Clock(),
    )


async def filled(embedder, directory: Path, clock: Clock | None = None) -> FrugalCache:
    cache = make(embedder, directory, clock)
    await cache.start()
    await cache.store(ask("How do I reset my password?"), answer("Click forgot."), tier="small")
    await cache.store(ask("What is the capital of France?", semantic=False), answer("Paris."), tier="small")
    await cache.close()
    return cache


async def test_a_restarted_cache_answers_exact_and_semantic_hits_from_its_snapshot(
    embedder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await filled(embedder, tmp_path)
    assert (tmp_path / SNAPSHOT_NAME).exists(), "close() writes the snapshot"
    assert (tmp_path / partition_file("acme", "small")).exists(), "close() writes the partition's index file"
    restarted = make(embedder, tmp_path)
    with caplog.at_level(logging.WARNING, logger="runtime.cache.persist"):
        await restarted.start()
    assert not [r for r in caplog.records if "rebuilt" in r.message], "an intact index file is loaded, not rebuilt"
    assert await restarted.lookup(ask("What is the capital of France?")) is not None, "exact entry survives restart"
    hit = await restarted.lookup(ask("How can I reset my password?"))
    assert hit is not None and hit.kind == "semantic", "semantic entry and its index survive restart"
    await restarted.close()


async def test_entries_that_expired_while_down_are_not_restored(embedder, tmp_path: Path) -> None:
    clock = Clock()
    await filled(embedder, tmp_path, clock)
    clock.now += 10 * 3600
    restarted = make(embedder, tmp_path, clock)
    await restarted.start()
    assert restarted.stats()["entries"] == 0, "entries past their TTL must not come back"


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
async def test_a_damaged_snapshot_is_logged_set_aside_and_the_cache_starts_empty(
    embedder, tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    await filled(embedder, tmp_path)
    path = tmp_path / SNAPSHOT_NAME
    blob = path.read_bytes()
    path.write_bytes(
        {"truncate": blob[: len(blob) // 2], "flip": blob[:-10] + bytes(10), "garbage": b"\x00junk", "empty": b""}[
            damage
        ]
    )
    restarted = make(embedder, tmp_path)
    with caplog.at_level(logging.ERROR, logger="runtime.cache.persist"):
        await restarted.start()
    assert restarted.stats()["entries"] == 0, "a damaged snapshot restores nothing"
    assert any("unreadable" in r.message for r in caplog.records), "the damage is logged"
    assert (tmp_path / (SNAPSHOT_NAME + ".corrupt")).exists(), "the damaged file is kept aside for inspection"
    await restarted.store(ask("Q"), answer("A"), tier="small")
    await restarted.close()
    again = make(embedder, tmp_path)
    await again.start()
    assert await again.lookup(ask("Q")) is not None, "the rebuilt snapshot works on the next restart"


@pytest.mark.parametrize("damage", ["truncate", "garbage", "delete"])
async def test_a_damaged_index_file_is_rebuilt_from_the_snapshot_vectors(
    embedder, tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    await filled(embedder, tmp_path)
    path = tmp_path / partition_file("acme", "small")
    if damage == "delete":
        path.unlink()
    else:
        blob = path.read_bytes()
        path.write_bytes(blob[: len(blob) // 3] if damage == "truncate" else b"FRUGAL-CACHE-INDEX-1\n" + bytes(500))
    restarted = make(embedder, tmp_path)
    with caplog.at_level(logging.WARNING, logger="runtime.cache.persist"):
        await restarted.start()
    hit = await restarted.lookup(ask("How can I reset my password?"))
    assert hit is not None and hit.kind == "semantic", (
        f"the index is rebuilt after '{damage}' and still finds the entry"
    )
    if damage != "delete":
        assert any("rebuilt" in r.message for r in caplog.records), "the damaged index is logged"
