"""The exit codes every `frugal` command uses (README, docs/cost-preview.md, docs/policy-pack.md)."""

EXIT_OK = 0
EXIT_USAGE = 2  # bad usage or input: unknown stack, invalid config, unreadable file; nothing was run
EXIT_OVER_BUDGET = 3  # a cost gate failed: the expected monthly cost is above the limit
EXIT_POLICY = 4  # the policy pack found at least one mandatory violation
