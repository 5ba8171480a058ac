# Lifeline: the two commands are `make run` and `make test`; everything they
# need is installed by the targets below on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export LIFELINE_REDIS_PORT ?= 16379
export LIFELINE_KAFKA_PORT ?= 19092
export LIFELINE_KAFKA_BOOTSTRAP ?= 127.0.0.1:$(LIFELINE_KAFKA_PORT)
export LIFELINE_REDIS_URL ?= redis://127.0.0.1:$(LIFELINE_REDIS_PORT)/0

.PHONY: help venv run test test-unit services services-down services-status lint format contracts clean quality replay-scale worker-bench bench bench-full

help:
	@echo "make run            run the engine embedded (no servers) over the sample files"
	@echo "make test           install, start Redis and Kafka, run the whole suite, stop them"
	@echo "make test-unit      the tests that need no server"
	@echo "make services       start Redis and Kafka on loopback (services-down stops them)"
	@echo "make lint           ruff, mypy and the contract check"
	@echo "make bench          a quick run of every benchmark (results in benchmarks/results/quick/)"
	@echo "make bench-full     the whole benchmark set, benchmarks/README.md rebuilt (about an hour)"
	@echo "make quality        detection quality on 7 simulated worlds, a differently mixed one included (~25 min)"
	@echo "make replay-scale   replay throughput and memory, 1 million events (~15 min)"

# The virtual environment, installed from the pinned constraints; rebuilt when
# the dependencies change.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

venv: $(STAMP)

# The embedded default needs no server. A demo pseudonymisation key is used
# unless one is configured; its pseudonyms say 'demo'.
run: venv
	@LIFELINE_PSEUDONYM_KEY="$${LIFELINE_PSEUDONYM_KEY:-demo-key-for-sample-data-only}" \
	 LIFELINE_PSEUDONYM_KEY_ID="$${LIFELINE_PSEUDONYM_KEY_ID:-demo}" \
	 $(VENV)/bin/lifeline run

test: venv
	@scripts/test.sh

test-unit: venv
	$(PY) -m pytest -m "not integration"

services: venv
	scripts/services.sh up

services-down:
	scripts/services.sh down

services-status:
	scripts/services.sh status

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lifeline contracts --check

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

contracts: venv
	$(VENV)/bin/lifeline contracts --write
	$(PY) scripts/make_contract_examples.py

clean:
	rm -rf out .pytest_cache .hypothesis .mypy_cache .ruff_cache

# Long runs, outside `make test`: results in benchmarks/results/.
quality: venv
	$(PY) benchmarks/quality.py --full

worker-bench: venv services
	PYTHONPATH=. $(PY) benchmarks/worker_run.py

replay-scale: venv
	$(PY) benchmarks/replay_scale.py --households 13000 --months 36 18

# Benchmarks (benchmarks/README.md). Quick: small worlds, a part of NAB, results
# kept out of git; full: the published figures, and the page rebuilt from them.
QUICK := benchmarks/results/quick
BENCH := PYTHONPATH=. $(PY)

bench: venv services
	@mkdir -p $(QUICK)
	$(BENCH) benchmarks/throughput.py --households 300 --months 18 --results $(QUICK) --markdown $(QUICK)/throughput.md
	$(BENCH) benchmarks/latency.py --households 200 --months 18 --fractions 0.5 1.0 --results $(QUICK) --markdown $(QUICK)/throughput.md
	$(BENCH) benchmarks/scale.py --quick --out $(QUICK) --markdown $(QUICK)/scale.md
	$(BENCH) benchmarks/quality.py --quick --out $(QUICK)
	$(BENCH) benchmarks/nab_run.py --match realKnownCause --results $(QUICK)/raw/nab --summary $(QUICK)/nab.json --plot $(QUICK)/nab.png
	@echo "quick results in $(QUICK)/"

bench-full: venv services
	$(BENCH) benchmarks/throughput.py --households 1400 --months 36
	$(BENCH) benchmarks/latency.py --households 1000 --months 24
	$(BENCH) benchmarks/scale.py --decide-up-to 300000
	$(BENCH) benchmarks/quality.py --full
	$(BENCH) benchmarks/nab_run.py
	$(BENCH) benchmarks/readme.py
