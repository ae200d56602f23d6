.PHONY: test unit demo bench mutate lint format clean

# The whole test suite on real MariaDB + Redis (creates .venv on first run).
test:
	./scripts/test.sh

# The unit tier: tests that need no MariaDB, Redis or worker (scheduler, validation, fan memory
# models, card and key names, OpenAPI, the code's shape); seconds.
unit:
	MEMORA_UNIT_ONLY=1 ./scripts/test.sh -m unit

# The main job without a bench: an end-to-end run of the services.
demo:
	./scripts/demo.sh

# Benchmarks: prints a table, writes JSON to benchmarks/results/.
bench:
	./scripts/bench.sh

# Mutation testing of the core modules (mutmut; scripts/mutate.sh): a report of surviving mutants in
# mutants/report.txt, stopped at MEMORA_MUTATE_BUDGET seconds (default 6000).
mutate:
	./scripts/mutate.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

format:
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .

clean:
	rm -rf .venv .pytest_cache .ruff_cache mutants
