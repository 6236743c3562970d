# Two commands do all set-up on a fresh Debian/Ubuntu machine:
#   make qos    installs iperf3 and the package, then runs the shipped scenarios on loopback
#   make test   installs, then runs the whole test suite
PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
SYSTEM_TOOLS := iperf3:iperf3 ping:iputils-ping ip:iproute2 tc:iproute2 nft:nftables
# The test suite also opens the pytest-html report in a headless browser.
TEST_TOOLS := $(SYSTEM_TOOLS) chromium:chromium

.PHONY: install test-install system-deps apt-tools qos test lint bench clean

system-deps:
	@$(MAKE) --no-print-directory apt-tools TOOLS="$(SYSTEM_TOOLS)"

apt-tools:
	@missing=""; for pair in $(TOOLS); do \
	  tool=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$tool >/dev/null 2>&1 || [ -x /usr/sbin/$$tool ] || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

install: system-deps
	$(PYTHON) -m pip install -q -e '.[dev]'

test-install:
	@$(MAKE) --no-print-directory apt-tools TOOLS="$(TEST_TOOLS)"
	$(PYTHON) -m pip install -q -e '.[dev,plots]'

qos: install
	$(PYTHON) -m pytest --qos scenarios/ -p no:cacheprovider

test: test-install lint
	$(PYTHON) -m pytest -rs

lint:
	ruff check .
	ruff format --check .
	mypy

bench: install
	$(PYTHON) -m pytest benchmarks/ --benchmark-only -p no:cacheprovider

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .benchmarks
