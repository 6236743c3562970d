# Two commands do all set-up on a fresh Debian/Ubuntu machine:
#   make qos    installs iperf3 and the package, then runs the shipped scenarios on loopback
#   make test   installs, then runs the whole test suite
# Python packages go into a virtual environment (.venv): Debian and Ubuntu refuse pip installs
# into the system Python (PEP 668).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
# setpriv (util-linux) starts every process with its death signal set, without forking pytest.
SYSTEM_TOOLS := iperf3:iperf3 ping:iputils-ping ip:iproute2 tc:iproute2 ss:iproute2 nft:nftables \
  setpriv:util-linux
# The test suite also opens the pytest-html report in a headless browser, checks the
# STAMP packets of the udp probe with Wireshark's decoder (tshark), runs a real OpenSSH
# sshd in each site namespace of the site lab (sshd lives in /usr/sbin, checked too), pushes
# to a real Prometheus Pushgateway that a real Prometheus scrapes (promtool comes with
# prometheus; installing them starts no service: the tests start their own on loopback), and
# tests both engines of the WAN delay line: its C engine is built by the install where a C
# compiler and Python's headers exist (optional for users: without them it runs in Python).
TEST_TOOLS := $(SYSTEM_TOOLS) chromium:chromium tshark:tshark sshd:openssh-server ssh:openssh-client \
  prometheus:prometheus promtool:prometheus prometheus-pushgateway:prometheus-pushgateway \
  gcc:gcc python3-config:python3-dev

.PHONY: install test-install system-deps apt-tools venv qos test lint bench clean wheel-check

system-deps:
	@$(MAKE) --no-print-directory apt-tools TOOLS="$(SYSTEM_TOOLS)"

apt-tools:
	@missing=""; for pair in $(TOOLS); do \
	  tool=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$tool >/dev/null 2>&1 || [ -x /usr/sbin/$$tool ] || missing="$$missing $$pkg"; \
	done; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

venv: $(PY)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

install: system-deps venv
	$(PY) -m pip install -q -e '.[dev]'

test-install: venv
	@$(MAKE) --no-print-directory apt-tools TOOLS="$(TEST_TOOLS)"
	$(PY) -m pip install -q -e '.[dev,plots,trend]'

qos: install
	$(PY) -m pytest --qos scenarios/ -p no:cacheprovider

# Most tests wait on real traffic, sshd and namespaces rather than compute: four workers on two
# cores, a module per worker at a time (its lab, site locks and timings stay its own), in the
# order conftest.py collects them (the lab's few long modules first: xdist's own order, most
# tests first, started them last). The tests marked `alone` judge accuracy that a busy core
# spoils; they run afterwards, by themselves. A test that failed beside the others runs again by
# itself (--last-failed), named in the log: it passes only if it passes alone. A run that left
# anything running fails outright.
TEST_WORKERS ?= 4
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The suite starts hundreds of Python processes (pytester runs, responders, delay lines); where
# the environment sets PYTHONDONTWRITEBYTECODE each of them compiles and assertion-rewrites the
# package again (a pytest start: 2.6-3.5 s instead of 1.1-1.5 s).
test: export PYTHONDONTWRITEBYTECODE :=
test: test-install lint
	rm -f .pytest_cache/qos-leaked
	$(PY) -m pytest -rs $(PYTEST_PARALLEL) -m "not alone" || { \
	  ! test -e .pytest_cache/qos-leaked && \
	  echo "make test: the failures above ran beside other tests; each runs again by itself:" && \
	  $(PY) -m pytest -rs --last-failed --last-failed-no-failures=none -m "not alone"; }
	$(PY) -m pytest -rs -m alone

# The wheel as `pip install pytest-qos` gets it: runtime dependencies only, a clean venv.
wheel-check: system-deps
	PYTHON=$(PYTHON) .ci/wheel-check

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: install
	$(PY) -m pytest benchmarks/ --benchmark-only -p no:cacheprovider

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .benchmarks
