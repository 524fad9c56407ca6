"""One module per command group. Each exposes `configure(parser)` and `run(args) -> int` for its
command (a group with two commands names the second pair, e.g. `configure_diff`/`run_diff`), and is
named in `frugal.cli.COMMANDS`; only the chosen command's module is imported."""
