"""The model server pod's init step: fetch a GGUF from S3 into the node's cache, verified by sha256.

`python -m runtime.modelfetch --uri s3://bucket/key --sha256 HEX --size N --cache-dir DIR`

- The cache is keyed by digest: `DIR/<sha256>.gguf`, valid only next to its marker
  `DIR/<sha256>.verified` (the size and digest it was verified with). A restart or a reschedule on
  the same node finds both and starts at once: the file's size is re-checked against the marker
  (`--reverify` re-hashes it in full); no byte is downloaded.
- Otherwise the object is streamed into a temporary file in the same directory while it is hashed;
  only when size and digest match is the file renamed into place (atomic on one filesystem) and the
  marker written after it. A mismatch deletes the temporary file and exits 3 with both digests: no
  file is left that a later pod could take as valid. A crash part-way leaves a `.part` file or a
  model without its marker, both of which the next fetch replaces.
- Pods of one node fetching the same digest at once take turns through a lock file, so the model
  is downloaded once.

Credentials come from the pod's workload identity (boto3's default chain; on EKS the web-identity
token the IRSA webhook mounts); `AWS_ENDPOINT_URL_S3` points boto3 at another S3 endpoint (the tests'
local one). Exit codes: 0 ok, 2 bad arguments, 3 digest or size mismatch, 4 S3 or disk error.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_USAGE, EXIT_MISMATCH, EXIT_FETCH = 0, 2, 3, 4
CHUNK = 8 * 1024 * 1024
_URI = re.compile(r"^s3://([^/]+)/(.+)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class FetchError(RuntimeError):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Request:
    bucket: str
    key: str
    sha256: str
    size: int
    cache_dir: Path
    reverify: bool = False

    @property
    def target(self) -> Path:
        return self.cache_dir / f"{self.sha256}.gguf"

    @property
    def marker(self) -> Path:
        return self.cache_dir / f"{self.sha256}.verified"


def _log(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}, sort_keys=True), flush=True)


def _hash_file(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def cached(req: Request) -> bool:
    """True when the cache holds a verified copy (marker present, sizes agree, digest if asked)."""
    if not (req.target.is_file() and req.marker.is_file()):
        return False
    try:
        marker = json.loads(req.marker.read_text())
    except (OSError, ValueError):
        return False
    if marker.get("sha256") != req.sha256 or marker.get("size") != req.size:
        return False
    if req.target.stat().st_size != req.size:
        return False
    return not req.reverify or _hash_file(req.target) == req.sha256


@contextlib.contextmanager
def _locked(req: Request) -> Iterator[None]:
    with (req.cache_dir / f"{req.sha256}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def download(req: Request, s3: Any) -> None:
    """Stream the object into a temporary file, verify it, and move it into place with its marker."""
    free = shutil.disk_usage(req.cache_dir).free
    if free < req.size:
        raise FetchError(
            f"{req.cache_dir} has {free} bytes free, the model needs {req.size}; fix: a larger instance store, "
            "or remove models of other digests from the node's cache",
            EXIT_FETCH,
        )
    part = req.cache_dir / f".{req.sha256}.{os.getpid()}.part"
    digest, written = hashlib.sha256(), 0
    try:
        body = s3.get_object(Bucket=req.bucket, Key=req.key)["Body"]
        with part.open("wb") as out:
            for chunk in body.iter_chunks(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                written += len(chunk)
                if written > req.size:
                    break  # never fill a node's disk with an object larger than the pinned one
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest() if written <= req.size else f"(not computed: more than {req.size} bytes)"
        if written != req.size or got != req.sha256:
            raise FetchError(
                f"s3://{req.bucket}/{req.key} is not the pinned model: got {written}"
                f"{'+' if written > req.size else ''} bytes with sha256 {got}, expected {req.size} bytes with "
                f"sha256 {req.sha256}; refusing it. fix: "
                "upload the pinned file again, or pin the object's real digest and size in the stack config",
                EXIT_MISMATCH,
            )
        part.replace(req.target)
        _write_atomically(req.marker, json.dumps({"sha256": req.sha256, "size": req.size, "verified_at": time.time()}))
        _fsync_dir(req.cache_dir)
    finally:
        part.unlink(missing_ok=True)


def fetch(req: Request, s3: Any) -> str:
    """Make the verified model present in the cache; return "hit" or "downloaded"."""
    req.cache_dir.mkdir(parents=True, exist_ok=True)
    with _locked(req):
        if cached(req):
            return "hit"
        # An unverified leftover (a crash between rename and marker, or a failed re-verify) goes first.
        req.marker.unlink(missing_ok=True)
        req.target.unlink(missing_ok=True)
        download(req, s3)
        return "downloaded"


def s3_client() -> Any:
    import boto3
    from botocore.config import Config

    # Retries with backoff on throttling and resets; the endpoint comes from AWS_ENDPOINT_URL_S3 if set.
    return boto3.client("s3", config=Config(retries={"max_attempts": 8, "mode": "adaptive"}))


def parse_args(argv: Sequence[str]) -> Request:
    p = argparse.ArgumentParser(prog="python -m runtime.modelfetch", description=__doc__.split("\n\n")[0])
    p.add_argument("--uri", required=True, help="s3://bucket/key of the GGUF")
    p.add_argument("--sha256", required=True, help="the pinned digest (64 hex)")
    p.add_argument("--size", required=True, type=int, help="the pinned size in bytes")
    p.add_argument("--cache-dir", required=True, type=Path, help="the node-local cache directory")
    p.add_argument("--reverify", action="store_true", help="re-hash a cached file instead of checking its size")
    args = p.parse_args(list(argv))
    match = _URI.match(args.uri)
    if match is None:
        p.error(f"--uri {args.uri!r} is not s3://bucket/key")
    if not _SHA256.match(args.sha256):
        p.error(f"--sha256 {args.sha256!r} is not 64 lowercase hex digits")
    if args.size < 1:
        p.error(f"--size {args.size} must be positive")
    return Request(match.group(1), match.group(2), args.sha256, args.size, args.cache_dir, args.reverify)


def main(argv: Sequence[str] | None = None) -> int:
    req = parse_args(sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    try:
        outcome = fetch(req, s3_client())
    except FetchError as exc:
        _log("model-refused" if exc.code == EXIT_MISMATCH else "model-fetch-failed", error=str(exc))
        return exc.code
    except Exception as exc:  # botocore's errors and OSError: one clear line, never a traceback
        _log("model-fetch-failed", error=f"{type(exc).__name__}: {exc}", uri=f"s3://{req.bucket}/{req.key}")
        return EXIT_FETCH
    _log("model-ready", outcome=outcome, path=str(req.target), seconds=round(time.monotonic() - started, 3))
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
