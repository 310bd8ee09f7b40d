# The README's two commands: `make demo` and `make test`. Each creates .venv on a
# fresh machine (Python 3.11 and the package registries are all it needs).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Horovod is compiled against the TensorFlow already in the venv, with Gloo,
# and with MPI too where an MPI compiler is installed (Debian: openmpi-bin
# libopenmpi-dev; .ci/run installs them), so both `horovodrun --gloo` and
# `mpirun` launch it.
HOROVOD_MPI := $(if $(shell command -v mpicxx),HOROVOD_WITH_MPI=1,HOROVOD_WITHOUT_MPI=1)
HOROVOD_ENV := HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_GLOO=1 \
               HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 \
               $(HOROVOD_MPI)
PYTEST_ARGS ?=
# Test worker processes (pytest-xdist; 0 runs the suite in this process). Two
# fill a 2-core machine: most tests are single-threaded Python and process
# start-up, and the suite ends ~1.3x sooner than in one process.
PYTEST_WORKERS ?= 2

.PHONY: demo test install install-test horovod wheel clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip "setuptools<80" wheel

$(VENV)/.installed-base: setup.py | $(PY)
	$(PIP) install -q -e . "numpy<2"
	touch $@

# numpy<2 sits in the same pip call so nothing upgrades it under TensorFlow.
$(VENV)/.installed-test: setup.py $(VENV)/.installed-base
	$(PIP) install -q -e ".[test]" "numpy<2"
	touch $@

$(VENV)/.installed-horovod: $(VENV)/.installed-base
	@echo "Building horovod 0.28.1 against the installed TensorFlow ($(HOROVOD_MPI); a few minutes)..."
	$(HOROVOD_ENV) $(PIP) install -q --no-build-isolation --no-cache-dir "horovod==0.28.1"
	touch $@

install: $(VENV)/.installed-base
install-test: $(VENV)/.installed-test
horovod: $(VENV)/.installed-horovod

demo: $(VENV)/.installed-base
	$(PY) -m bert_tf.demo $(DEMO_ARGS)

test: $(VENV)/.installed-test $(VENV)/.installed-horovod
	$(PY) -m pytest -q -p no:cacheprovider -n $(PYTEST_WORKERS) --dist loadfile \
	  $(PYTEST_ARGS) tests

# The wheel users install (`pip install dist/bert_tf-*.whl`): every script as
# a console command, configs/ as package data. tests/test_packaging.py builds
# one and runs it from outside the repository under `make test`.
wheel: $(VENV)/.installed-base
	$(PIP) wheel -q --no-deps --no-build-isolation -w dist .

clean:
	rm -rf $(VENV) *.egg-info build dist
