# mcp-orch: `make run` serves the demo orch.json, `make test` runs every test, `make bench` measures.
SWIFT ?= swift
ORCH := .build/debug/orch
SYSTEM_PACKAGES := libjansson-dev libssl-dev pkg-config
VENV := .venv

.PHONY: deps build run test bench clean

# Installs the C libraries the build links against, when missing (Debian/Ubuntu).
deps:
	@missing=""; \
	if command -v dpkg >/dev/null 2>&1; then \
	  for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	fi; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq && $$sudo apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build

run: build
	@ORCH_BIN=$(CURDIR)/$(ORCH) $(ORCH) check orch.json
	@echo
	@$(ORCH) explain bob

test: deps
	$(SWIFT) build
	$(SWIFT) test

bench: deps
	bench/run.sh

clean:
	rm -rf .build $(VENV)
