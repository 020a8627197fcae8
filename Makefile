# mcp-orch: `make run` serves the demo orch.json, `make test` runs every test, `make bench` measures.
SWIFT ?= swift
ORCH := .build/debug/orch
SYSTEM_PACKAGES := libjansson-dev libssl-dev pkg-config

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

# Serves the demo orch.json on 127.0.0.1:8080 with the demo-only tokens of samples/demo-tokens.env.
run: build
	@ORCH_BIN=$(CURDIR)/$(ORCH) $(ORCH) check orch.json
	@. samples/demo-tokens.env; \
	echo; \
	echo "mcp-orch demo on http://127.0.0.1:8080 (tokens are demo-only, from samples/demo-tokens.env):"; \
	echo "  curl http://127.0.0.1:8080/healthz"; \
	echo "  curl -H 'Authorization: Bearer $$BOB_TOKEN' http://127.0.0.1:8080/api/v1/servers"; \
	echo "  curl -H 'Authorization: Bearer $$ALICE_TOKEN' http://127.0.0.1:8080/api/v1/policy"; \
	echo; \
	ORCH_BIN=$(CURDIR)/$(ORCH) exec $(ORCH) serve orch.json

test: deps
	$(SWIFT) build
	$(SWIFT) test
	ORCH_BIN=$(CURDIR)/$(ORCH) tests/e2e/run.sh

bench: deps
	bench/run.sh

clean:
	rm -rf .build .venv-mcp1 .venv-mcp2 .venv-bench
