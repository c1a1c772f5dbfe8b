# The two commands a newcomer needs are `make demo` and `make test` (see README.md).
.PHONY: demo console test lint bootstrap services-stop

demo:
	scripts/demo

# the demo, then the web console over its sellers and orders until Ctrl-C (docs/console.md)
console:
	DEMO_CONSOLE=1 scripts/demo

test:
	scripts/test

lint: bootstrap
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bootstrap:
	scripts/bootstrap

services-stop:
	scripts/kafka-local stop; scripts/postgres-local stop
