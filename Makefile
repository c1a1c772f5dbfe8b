# The two commands a newcomer needs are `make demo` and `make test` (see README.md).
.PHONY: demo test lint bootstrap services-stop

demo:
	scripts/demo

test:
	scripts/test

lint: bootstrap
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bootstrap:
	scripts/bootstrap

services-stop:
	scripts/kafka-local stop; scripts/postgres-local stop
