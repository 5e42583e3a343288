# stimsim: `make demo` and `make test` set everything up from scratch (see README.md).
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stimsim-installed
MPI_RANKS ?= 2
# Worker processes of the single-rank test pass (pytest-xdist; each test still runs on one rank, the
# tests of one file on one worker so that their module fixtures are built once): 0 runs them in-process.
TEST_WORKERS ?= 2

# First Python >= 3.12 among: $PYTHON, the pyenv-selected python3 (.python-version), python3.13,
# python3.12 on PATH, any pyenv 3.12+ installation.
define FIND_PYTHON
for c in "$${PYTHON:-}" python3 python3.13 python3.12 $$(ls -d "$$(pyenv root 2>/dev/null || echo /nonexistent)"/versions/3.1[2-9]*/bin/python3 2>/dev/null); do \
  [ -n "$$c" ] || continue; \
  p=$$(command -v "$$c" 2>/dev/null) || continue; \
  "$$p" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo "$$p"; exit 0; }; \
done; exit 1
endef

.PHONY: demo test test-layers test-serial test-mpi benchmark clean
demo: $(STAMP)
	$(BIN)/stimsim run studies/default.toml -o results/default

test: test-layers test-serial test-mpi

# The import contracts of pyproject.toml [tool.importlinter]: the layers, imports pointing only down.
test-layers: $(STAMP)
	$(BIN)/lint-imports --no-cache

test-serial: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15

test-mpi: $(STAMP)
	$(BIN)/mpiexec -n $(MPI_RANKS) $(BIN)/python -m pytest -q -m "not serial" --durations=15

benchmark: $(STAMP)
	$(BIN)/python benchmarks/forward.py
	$(BIN)/python benchmarks/ionic.py
	$(BIN)/python benchmarks/periodic.py
	$(BIN)/python benchmarks/modulation.py
	$(BIN)/python benchmarks/sweep.py
	$(BIN)/python benchmarks/inverse.py

$(STAMP): pyproject.toml
	@py=$$($(FIND_PYTHON)) || { \
	  echo "stimsim needs Python >= 3.12 and none was found."; \
	  echo "Install one (e.g. 'pyenv install 3.12' or your distribution's python3.12 package)"; \
	  echo "or point to it: make PYTHON=/path/to/python3.12 $(MAKECMDGOALS)"; exit 1; }; \
	echo "creating $(VENV) with $$py"; \
	"$$py" -m venv $(VENV) && \
	{ $(BIN)/python -m pip install -e '.[test]' > $(VENV)/install.log 2>&1 || \
	  { tail -n 30 $(VENV)/install.log; echo "installation failed: see $(VENV)/install.log"; exit 1; }; } && \
	touch $(STAMP) && echo "installed stimsim into $(VENV)"

clean:
	rm -rf $(VENV) results build *.egg-info
