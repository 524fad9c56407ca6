"""API keys -> tenants. Keys are kept only as SHA-256 digests and compared in constant time.

The presented key is hashed, the digest's first 8 bytes pick a bucket, and every candidate in the
bucket is compared with `hmac.compare_digest` on the full digest. The bucket lookup cannot leak the
key: its index is a hash the caller cannot steer byte by byte, and the comparison that decides is
constant-time. With no tenants configured, auth is off and every request belongs to `local`.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from decimal import Decimal

from runtime.errors import AuthenticationError
from runtime.settings import Tenant

LOCAL_TENANT = "local"


@dataclass(frozen=True, slots=True)
class TenantInfo:
    name: str
    daily_budget_usd: Decimal | None
    monthly_budget_usd: Decimal | None
    allowed_tiers: frozenset[str] | None
    semantic_cache: bool
    priority: int = 0
    """Place in a tier's admission queue when the tier is full (runtime/admission.py)."""

    @property
    def has_budget(self) -> bool:
        return self.daily_budget_usd is not None or self.monthly_budget_usd is not None


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def check_bearer(authorization: str | None, digest_hex: str, what: str) -> None:
    """AuthenticationError (401) unless the header is `Bearer <key>` with sha256(key) == digest_hex."""
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise AuthenticationError(f"{what} needs 'Authorization: Bearer <key>'", code="missing_api_key")
    if not hmac.compare_digest(key_digest(key.strip()), bytes.fromhex(digest_hex)):
        raise AuthenticationError(f"wrong key for {what}")


class KeyStore:
    def __init__(self, tenants: list[Tenant]) -> None:
        self.enabled = bool(tenants)
        self._buckets: dict[bytes, list[tuple[bytes, TenantInfo]]] = {}
        self.tenants: dict[str, TenantInfo] = {}
        for t in tenants:
            info = TenantInfo(
                t.name,
                t.daily_budget_usd,
                t.monthly_budget_usd,
                frozenset(t.allowed_tiers) if t.allowed_tiers is not None else None,
                t.semantic_cache,
                t.priority,
            )
            self.tenants[t.name] = info
            for k in t.keys:
                digest = bytes.fromhex(k.sha256) if k.sha256 else key_digest(k.key or "")
                self._buckets.setdefault(digest[:8], []).append((digest, info))
        self.local = TenantInfo(LOCAL_TENANT, None, None, None, False)

    def authenticate(self, authorization: str | None) -> TenantInfo:
        """The tenant for an `Authorization: Bearer <key>` header, or AuthenticationError (401)."""
        if not self.enabled:
            return self.local
        if not authorization:
            raise AuthenticationError(
                "missing API key; send it as 'Authorization: Bearer <key>'", code="missing_api_key"
            )
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise AuthenticationError("the Authorization header must be 'Bearer <key>'")
        digest = key_digest(key.strip())
        found: TenantInfo | None = None
        for candidate, info in self._buckets.get(digest[:8], ()):
            if hmac.compare_digest(candidate, digest):
                found = info
        if found is None:
            raise AuthenticationError("invalid API key; check the key or ask the operator for one")
        return found
