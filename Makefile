# The two set-up commands: `make run` (the main job) and `make test` (the tests).
# Each creates .venv on first use and installs what it needs; torch is pinned to the CPU build.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# the main job: SpoC towards every simcam camera against Noiseprint (default preset otherwise), in
# bfloat16 where the CPU or GPU computes it natively (--precision auto); `make run ARGS=` runs the
# whole default preset (in float32)
ARGS ?= --attack spoc --detector noiseprint --precision auto --out runs/main

.PHONY: run test smoke install clean

# setuptools' "Editable installation" notice is information only: every editable install whose
# package-dir maps folders (as ours does) prints it, so it is filtered by its text
$(BIN)/spoc-bench: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/spoc-bench

run: install
	$(BIN)/spoc-bench run $(ARGS)

test: install
	$(BIN)/python -m pytest -q

smoke: install
	$(BIN)/spoc-bench run --preset smoke --out runs/smoke --quiet
	$(BIN)/spoc-bench check runs/smoke --against reports/smoke.csv

clean:
	rm -rf $(VENV) runs
