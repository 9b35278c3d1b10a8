# kaddons: the two commands of the README's Quick start are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint system-deps bench-deps demo-deps venv clean

demo: demo-deps $(STAMP)  ## Run the main job against a local registry and print what arrived
	$(VENV)/bin/python scripts/demo.py

test: system-deps $(STAMP)  ## Install what is missing, lint, run the whole test suite
	scripts/test.sh $(PYTEST_ARGS)

bench: bench-deps $(STAMP)  ## Benchmarks: copy vs skopeo, export vs tar | sha256sum, polling 1,000 addons vs skopeo, push latency, 300-add-on stacks, one add-on's lifecycle on them, SOPS vs sops, a 500-add-on cluster's states, kaddons serve
	$(VENV)/bin/python benchmarks/copy.py
	$(VENV)/bin/python benchmarks/export.py
	$(VENV)/bin/python benchmarks/poll.py
	$(VENV)/bin/python benchmarks/stacks.py
	$(VENV)/bin/python benchmarks/lifecycle.py
	$(VENV)/bin/python benchmarks/cluster.py
	$(VENV)/bin/python benchmarks/serve.py
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/python benchmarks/secrets.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/mypy

system-deps:
	@scripts/system-deps.sh

bench-deps:
	@scripts/system-deps.sh --bench

# The demo needs no Debian package but python3-venv: without docker-registry it uses an OCI layout store.
demo-deps:
	@scripts/system-deps.sh || scripts/system-deps.sh --only python3-venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) .demo .pytest_cache .ruff_cache
