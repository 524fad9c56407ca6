"""`python -m runtime [--config PATH]`: the same as `frugal serve` (the container's entrypoint)."""

from __future__ import annotations

import sys

from infra.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
