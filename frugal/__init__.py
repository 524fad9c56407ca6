"""`frugal`: the command line. One module per command group in `frugal.commands`; the parser,
the registry and the exit codes in `frugal.cli` and `frugal.exit_codes`.

The domain packages (`infra`, `infra.cost`, `policies`, `runtime`) never import this package: it
sits on top of them and only turns arguments into calls and results into text and exit codes.
"""
