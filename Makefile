# CountyOS — two commands: `make demo` and `make test`.
# Everything is installed from this repository's own files into .venv (and comparator venvs).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ACRO_VENV := .venv-acro
SCALE ?= 0.05
APT_PACKAGES := bubblewrap python3-venv chromium fonts-noto-cjk

.PHONY: demo test install comparators system-packages sandbox serve clean benchmarks

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "CountyOS needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Front-end packages (ECharts, htmx, Swagger UI) from the npm registry, served locally.
# --ignore-scripts: no install script runs (one dependency's would phone home).
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund

install: system-packages $(STAMP) node_modules/.package-lock.json

# Comparators whose pins clash with ours live in their own venvs (see ../shared/STACK-NOTES.md).
$(ACRO_VENV)/.installed:
	$(PYTHON) -m venv $(ACRO_VENV)
	$(ACRO_VENV)/bin/pip install --quiet --upgrade pip
	$(ACRO_VENV)/bin/pip install --quiet 'acro==1.0.2'
	touch $@

comparators: $(ACRO_VENV)/.installed

# The lab sandbox runs jobs with Debian's python3 in its own venv that the sandbox uid can read.
SANDBOX_VENV := .venv-sandbox
sandbox: install system-packages
	$(BIN)/python -m countyos.lab.sandbox.setup $(SANDBOX_VENV)

# Debian packages: bubblewrap + python3-venv (lab sandbox), chromium + CJK fonts (browser tests),
# and node/npm for the front-end packages when no npm is on the PATH (a NodeSource node already
# brings npm; Debian's npm package would conflict with it). Installed when root, else named.
system-packages:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing; \
	  else echo "please install:$$missing (sudo apt-get install$$missing)"; exit 1; fi; fi

demo: install system-packages sandbox
	$(BIN)/countyos demo --scale $(SCALE)

serve: install
	$(BIN)/countyos serve

test: install comparators system-packages sandbox
	$(BIN)/pytest

benchmarks: install
	$(BIN)/python benchmarks/foundation/run.py

clean:
	rm -rf $(VENV) $(ACRO_VENV) $(SANDBOX_VENV) build *.egg-info
