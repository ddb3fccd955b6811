# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_WS ?= shopseg-workspace
DEMO_CUSTOMERS ?= 20000
DEMO_SEED ?= 42

.PHONY: demo test bench venv clean browser java wrk

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "make: $(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test,bench,spark]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/shopseg --workspace $(DEMO_WS) synth --customers $(DEMO_CUSTOMERS) --seed $(DEMO_SEED) --replace
	$(VENV)/bin/shopseg --workspace $(DEMO_WS) run --seed $(DEMO_SEED)

# two workers, whole files to a worker (a module's fixtures are built once): the suite is one process per
# core on a 2-core machine (one worker took 11-13 min idle, two take 9); `pytest -q` alone still works
test: $(STAMP) browser java
	$(PY) -m pytest -q -n 2 --dist loadfile

# Debian's chromium for the end-to-end tests (report, dashboard); Playwright drives it
browser:
	@command -v chromium >/dev/null 2>&1 || bash scripts/install-debian-package.sh chromium chromium

# Java 17 for the Spark parity tests (pyspark drives a local[2] JVM)
java:
	@command -v java >/dev/null 2>&1 || bash scripts/install-debian-package.sh java openjdk-17-jre-headless

# wrk, the closed-loop HTTP load generator of the service benchmark (benchmarks/bench_serve.py)
wrk:
	@command -v wrk >/dev/null 2>&1 || bash scripts/install-debian-package.sh wrk wrk

bench: $(STAMP) wrk
	$(PY) benchmarks/run.py $(if $(QUICK),--quick,)

clean:
	rm -rf $(VENV) $(DEMO_WS) .pytest_cache
