"""`python -m bench` (or `bench/run`): the end-to-end benchmark, see docs/performance.md."""

from bench.cli import main

main()
