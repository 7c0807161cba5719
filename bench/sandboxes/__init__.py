"""Sandbox benchmarks (`python3 -m bench.sandboxes`): each phase is a module with
`run(args) -> list[Row]` listed in `PHASES`; other phases (Docker runs, logs) add theirs."""
