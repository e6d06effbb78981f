# Two commands do all the setup: `make demo` runs the main job end to end on the
# embedded default (local Ray, local files); `make test` runs the test suite.
# Both create .venv and install the project on first use.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Label Studio, for the labelling loop's test against a real server: its own venv (it pins Django and more).
LS_VENV ?= .venv-labelstudio
LS_STAMP := $(LS_VENV)/.installed

.PHONY: demo test test-fast install clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -c constraints.txt -e '.[test]'
	touch $(STAMP)

$(LS_STAMP): requirements-labelstudio.txt
	$(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install --upgrade pip
	$(LS_VENV)/bin/python -m pip install -r requirements-labelstudio.txt
	touch $(LS_STAMP)

install: $(STAMP) $(LS_STAMP)

demo: $(STAMP)
	$(PY) -m jobs.demo

test: $(STAMP) $(LS_STAMP)
	$(PY) -m pytest -q

# The inner loop: everything but the slow integration tests (cluster, Serve, real clips).
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) $(LS_VENV) out
