"""The gateway role of the runtime image: the router on the cluster, its tenants' keys from a Secret.

`python -m runtime.gateway_role --config /etc/frugal/router.yaml [--keys-file /etc/frugal-keys/tenant-keys.json]`

The config (a ConfigMap the stack renders) declares the tiers, prices and tenants with their
budgets, but no keys; a JSON object of tenant name to API key (the file a Kubernetes Secret mounts,
itself from the stack's secret config, or else the `FRUGAL_TENANT_KEYS` variable) is merged in
here, so keys never sit in a ConfigMap. A key for a tenant the config does not declare is refused:
a typo must not create a tenant without budgets. Everything else is `frugal serve --config`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runtime.settings import Settings, SettingsError, read_config_mapping, settings_from_dict

KEYS_ENV = "FRUGAL_TENANT_KEYS"


def with_tenant_keys(data: dict[str, Any], raw_keys: str | None) -> dict[str, Any]:
    """The config with each tenant's key from the JSON object `raw_keys` added (None: unchanged)."""
    if not raw_keys:
        return data
    try:
        keys = json.loads(raw_keys)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{KEYS_ENV} is not JSON ({exc.msg}); fix: a JSON object of tenant name to key") from None
    if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
        raise SettingsError(f"{KEYS_ENV} must be a JSON object of tenant name to key (a string)")
    tenants = [dict(t) for t in data.get("tenants") or []]
    declared = {t.get("name") for t in tenants}
    unknown = sorted(set(keys) - declared)
    if unknown:
        raise SettingsError(
            f"{KEYS_ENV} has keys for tenants the config does not declare: {unknown}; rule: every tenant is "
            f"declared with its budgets in serving.gateway.tenants; fix: declare them or remove their keys"
        )
    for tenant in tenants:
        if tenant.get("name") in keys:
            tenant["keys"] = [*tenant.get("keys", []), {"key": keys[tenant["name"]]}]
    return {**data, "tenants": tenants}


def load(path: Path, environ: Mapping[str, str], keys_file: Path | None = None) -> Settings:
    raw_keys = environ.get(KEYS_ENV)
    if keys_file is not None:
        if not keys_file.is_file():
            raise SettingsError(f"keys file {keys_file} not found; fix: mount the tenant-keys Secret there")
        raw_keys = keys_file.read_text()
    data = read_config_mapping(path, "mount the gateway ConfigMap there")
    return settings_from_dict(with_tenant_keys(data, raw_keys), environ, source=str(path))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m runtime.gateway_role", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", type=Path, required=True, help="the rendered router config")
    p.add_argument("--keys-file", type=Path, default=None, help=f"tenant keys (JSON); default: ${KEYS_ENV}")
    args = p.parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        settings = load(args.config, os.environ, args.keys_file)
    except SettingsError as exc:
        print(f"frugal gateway: {exc}", file=sys.stderr)
        return 2
    from runtime.serve import run

    run(settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
