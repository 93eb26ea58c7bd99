# Sekimori: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

# Debian packages the tests and the gateway need: libmagic for type sniffing, a real
# redis-server for the store tests, Postfix for the content-filter test (a private instance the
# test starts; the package's own is left unconfigured), Chromium and CJK fonts for the browser
# tests of the quarantine UI (Playwright drives Debian's chromium; it downloads no browser), and
# systemd-analyze to check the units in docs/systemd/
APT_PACKAGES := libmagic1 redis-server postfix chromium fonts-noto-cjk systemd

.PHONY: run test bench fuzz screenshots lint typecheck pytest system-deps venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "postfix postfix/main_mailer_type select No configuration" | $$SUDO debconf-set-selections; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

pytest: venv system-deps
	$(PY) -m pytest -q

test: system-deps venv lint typecheck pytest

bench: system-deps venv
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Coverage-guided fuzzing of the classifiers (atheris): messages, files and hostile shapes of up to
# 8 MiB; stops at the first input that raises or runs past twice its budget (saved as crash-*).
FUZZ_SECONDS ?= 600
fuzz: system-deps venv
	PYTHONPATH=. $(PY) tests/fuzz/fuzz_scan.py -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096

# The README's screenshots, taken by the browser tests of the quarantine UI.
screenshots: system-deps venv
	SEKIMORI_SCREENSHOTS=docs/screenshots $(PY) -m pytest -q tests/quarantine_ui/test_browser.py tests/gateway/links/test_browser.py

run: system-deps venv
	$(VENV)/bin/sekimori run --config sekimori.example.yaml --demo

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache
