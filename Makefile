# Quick start: `make repro` then `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV ?= .venv
# A CPU build of torch, installed only when the venv has no torch yet: a venv made with
# --system-site-packages over a CUDA torch keeps that torch.
TORCH_SPEC ?= torch==2.13.0
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export NO_ALBUMENTATIONS_UPDATE := 1

.PHONY: install repro baseline test lint bench screenshots lock clean

# Every other library at the version in constraints.txt, the one the numbers were measured with.
CONSTRAINTS := constraints.txt
PIN_VERSIONS ?= -c $(CONSTRAINTS)

# A venv without pip (its creation interrupted before ensurepip ran, or made without it) gets
# pip; what it holds stays.
$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	$(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip -q 2>/dev/null \
		|| $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q $(PIN_VERSIONS) -e ".[dev]"
	touch $@

# constraints.txt afresh: the newest versions pyproject.toml's ranges allow, the install above
# without the pins in a new venv (build/lock-venv), torch left to TORCH_SPEC. Then `make repro`
# and re-measure.
LOCK_VENV := build/lock-venv
lock:
	rm -rf $(LOCK_VENV)
	$(MAKE) --no-print-directory VENV=$(LOCK_VENV) PIN_VERSIONS= $(LOCK_VENV)/.installed
	sed -n '/^#/p' $(CONSTRAINTS) > $(CONSTRAINTS).new
	$(LOCK_VENV)/bin/python -m pip freeze --exclude-editable | grep -iv '^torch==' >> $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf $(LOCK_VENV)

# The page `dvc plots show` fills, with Vega inline (mer.tracking.plots_page): the charts
# draw offline. DVC uses it in this clone only (.dvc/config.local).
PLOTS_PAGE := build/dvc-plots.html
$(PLOTS_PAGE): $(VENV)/.installed
	$(BIN)/python -m mer.tracking.plots_page $@
	$(BIN)/dvc config --local plots.html_template ../$@

install: $(VENV)/.installed $(PLOTS_PAGE)

repro: install
	$(BIN)/dvc repro

# The baseline `dvc metrics diff`, `dvc exp show` and `dvc plots diff` compare against: the
# lock file and the reports DVC does not cache, committed (README: "Compare experiments").
BASELINE := dvc.lock reports
baseline: repro
	git add $(BASELINE)
	git diff --cached --quiet -- $(BASELINE) || git commit -m "baseline: dvc repro" -- $(BASELINE)

# Two workers, each taking whole test files (their module fixtures build a project once):
# most tests wait on one single-threaded subprocess, so the second core was idle. The longest
# files first, in tests/conftest.py's order, not xdist's (most tests first).
test: install
	$(BIN)/python -m pytest -n auto --dist loadfile --no-loadscope-reorder --durations=15

lint: install
	$(BIN)/ruff check src tests benchmarks scripts

bench: install
	$(BIN)/python -m benchmarks.run

# README's MLflow UI images (docs/ui/*.png) from a tiny project of the embedded data, rebuilt
# from scratch in build/ui-project; look at them before committing.
screenshots: install
	rm -rf build/ui-project
	$(BIN)/python scripts/ui_screenshots.py --tiny build/ui-project --out docs/ui

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
