# hlsd: `make run` serves config/development.ini, `make test` runs every test,
# `make cluster` runs nginx in front of 3 nodes (config/cluster/) until Ctrl-C.
# Each target does all the set-up it needs, idempotently.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HLSJS := web/static/vendor/hls.min.js
APT_PACKAGES_RUN := ffmpeg
# The tests run a real nginx in front of hlsd.
APT_PACKAGES_TEST := ffmpeg chromium nginx-light
APT_PACKAGES_BENCH := ffmpeg nginx-light wrk
APT_PACKAGES_CLUSTER := ffmpeg nginx-light

.PHONY: run test chaos bench cluster setup clean

run: setup
	$(BIN)/python -m web.scripts.sample config/development.ini
	$(BIN)/pserve config/development.ini

test: setup
	@$(MAKE) --no-print-directory os-packages PACKAGES="$(APT_PACKAGES_TEST)"
	$(BIN)/pytest

# In the foreground: Ctrl-C makes supervisord stop nginx, then the nodes (each stops its
# FFmpeg), then exit; nothing is left behind. Logs: var/cluster/log/.
cluster: setup
	@$(MAKE) --no-print-directory os-packages PACKAGES="$(APT_PACKAGES_CLUSTER)"
	$(BIN)/python -m web.scripts.sample config/development.ini
	mkdir -p var/nginx var/cluster/log
	@echo "hlsd cluster: http://127.0.0.1:8080 (nodes on 127.0.0.1:6551-6553); Ctrl-C stops it"
	@echo "sign-in is on: add a user with $(BIN)/hlsctl users add NAME --config config/cluster/node1.ini"
	$(BIN)/supervisord -n -c config/cluster/supervisord.conf

chaos: setup
	$(BIN)/python -m tests.chaos --minutes 10

bench: setup
	@$(MAKE) --no-print-directory os-packages PACKAGES="$(APT_PACKAGES_BENCH)"
	$(BIN)/python -m bench

setup: $(VENV)/.installed $(HLSJS)
	@$(MAKE) --no-print-directory os-packages PACKAGES="$(APT_PACKAGES_RUN)"

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,cluster]'
	touch $@

$(HLSJS): package.json
	npm install --no-audit --no-fund --silent
	mkdir -p $(dir $@)
	cp node_modules/hls.js/dist/hls.min.js $@

# Installs the Debian packages whose commands are missing (root), or says what to install.
# A policy-rc.d for the time of the install keeps Debian from starting nginx (or any other
# service) system-wide: hlsd's tests and `make cluster` start their own, and stop them.
os-packages:
	@missing=""; for p in $(PACKAGES); do \
	  case $$p in nginx-light) c=nginx;; *) c=$$p;; esac; \
	  command -v $$c >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    guard=""; if [ ! -e /usr/sbin/policy-rc.d ]; then \
	      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; guard=1; \
	    fi; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	    status=$$?; [ -z "$$guard" ] || rm -f /usr/sbin/policy-rc.d; [ $$status = 0 ] || exit $$status; \
	  else \
	    echo "hlsd needs these Debian packages: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi

clean:
	rm -rf $(VENV) node_modules web/static/vendor *.egg-info
