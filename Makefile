# Two commands for a fresh machine:
#   make run    install (into .venv) and start the app on http://127.0.0.1:8501
#   make test   install the dev tools and Debian's chromium, lint (ruff), then run the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export NO_ALBUMENTATIONS_UPDATE := 1
export HF_HUB_OFFLINE := 1
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test install install-dev chromium demo-data bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

chromium:
	@[ -x /usr/bin/chromium ] || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }
	@/usr/bin/chromium --version

# The demo set is the default data set when neither SALTLAB_DATA nor data/tgs is there.
data/demo/train.csv: | $(VENV)/.installed
	$(PY) -m saltlab demo-data data/demo

demo-data: data/demo/train.csv

run: $(VENV)/.installed data/demo/train.csv
	$(PY) -m streamlit run app.py --server.address 127.0.0.1 --server.port 8501 --server.headless true

test: $(VENV)/.installed-dev chromium
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
