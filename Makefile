# mcp-orch: `make run` serves the demo orch.json, `make test` runs every test, `make bench` measures,
# `make soak` runs the soak / race / load test.
SWIFT ?= swift
ORCH := .build/debug/orch
SYSTEM_PACKAGES := libjansson-dev libssl-dev pkg-config
# The fuzz step's HTTP target is Python; libFuzzer comes with the Swift toolchain.
FUZZ_PACKAGES := python3
# Seconds per fuzz target: `make fuzz`, and the smoke step of `make test`.
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 4

.PHONY: deps build run test bench soak clean fuzz fuzz-deps sanitize

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
	echo "  the dashboard: open http://127.0.0.1:8080/ and sign in with one of the tokens"; \
	echo; \
	ORCH_BIN=$(CURDIR)/$(ORCH) exec $(ORCH) serve orch.json

# Installs the release orch into $(DESTDIR)$(PREFIX)/bin, its man page (written by
# swift-argument-parser's generate-manual plugin) into share/man/man1, and its bash, zsh and fish
# completions where those shells look for them. install-files installs a given ORCH and MANUAL
# (the end-to-end tests install a debug build into a temporary DESTDIR).
PREFIX ?= /usr/local
DESTDIR ?=
INSTALL ?= install
MANUAL ?= .build/plugins/GenerateManual/outputs/orch/orch.1
.PHONY: install install-files
install: deps
	$(SWIFT) build -c release --product orch
	$(SWIFT) package plugin generate-manual --configuration release
	@$(MAKE) --no-print-directory install-files ORCH=.build/release/orch MANUAL=$(MANUAL)

install-files:
	$(INSTALL) -d "$(DESTDIR)$(PREFIX)/bin" "$(DESTDIR)$(PREFIX)/share/man/man1" \
	  "$(DESTDIR)$(PREFIX)/share/bash-completion/completions" "$(DESTDIR)$(PREFIX)/share/zsh/site-functions" \
	  "$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d"
	$(INSTALL) -m 0755 "$(ORCH)" "$(DESTDIR)$(PREFIX)/bin/orch"
	$(INSTALL) -m 0644 "$(MANUAL)" "$(DESTDIR)$(PREFIX)/share/man/man1/orch.1"
	"$(ORCH)" --generate-completion-script bash > "$(DESTDIR)$(PREFIX)/share/bash-completion/completions/orch"
	"$(ORCH)" --generate-completion-script zsh > "$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_orch"
	"$(ORCH)" --generate-completion-script fish > "$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/orch.fish"
	chmod 0644 "$(DESTDIR)$(PREFIX)/share/bash-completion/completions/orch" \
	  "$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_orch" "$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/orch.fish"

# Last, a fuzz smoke step: the OrchJSON/OrchPolicy targets and http, FUZZ_SMOKE_SECONDS each (the
# gateway's targets need NIO and Hummingbird built again for fuzzing, too long here: `make fuzz`).
# The Swift tests run in two processes: the gateway's tests time a live server (a refused upstream
# is a 502 at once, a deadline passes), and beside the CPU-bound policy tests (600 random policies,
# 20,000 random URIs) they would wait many seconds for a thread of a 2-core machine's pool.
test: deps fuzz-deps
	$(SWIFT) build
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --filter OrchGatewayTests
	$(SWIFT) test --skip-build --skip OrchGatewayTests
	ORCH_BIN=$(CURDIR)/$(ORCH) python3 tests/docs/check_docs.py
	ORCH_BIN=$(CURDIR)/$(ORCH) tests/e2e/run.sh
	SOAK_SECONDS=20 ORCH_BIN=$(CURDIR)/$(ORCH) bench/soak/run.sh
	ORCH_BIN=$(CURDIR)/$(ORCH) FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS) Fuzz/run.sh --core http

# Installs what the fuzz step needs, when missing (Debian/Ubuntu), as deps does.
fuzz-deps:
	@$(MAKE) --no-print-directory deps SYSTEM_PACKAGES="$(FUZZ_PACKAGES)"

# Every fuzz target (Fuzz/run.sh) for FUZZ_SECONDS each; http drives the orch built here. Exits
# non-zero on a crash, hang or broken property, naming the file that holds the input
# (.build-fuzz/crashes/TARGET/). See CONTRIBUTING.md, "Fuzzing and sanitizers".
fuzz: build fuzz-deps
	ORCH_BIN=$(CURDIR)/$(ORCH) FUZZ_SECONDS=$(FUZZ_SECONDS) Fuzz/run.sh

# The Swift tests once under ThreadSanitizer and once under AddressSanitizer, each in its own
# build path. The tests start the orch built beside them (CLI runs, sample-server upstreams), so
# those processes are instrumented too; no test is left out. The gateway's tests run in a test
# process of their own: beside the CPU-bound policy tests (600 random policies), slowed 5-15x by
# a sanitizer, they wait minutes for a thread of a 2-core machine's pool and their deadlines
# (30 s, 60 s) pass. Tests/tsan-suppressions.txt and Tests/lsan-suppressions.txt list the reports
# that are the toolchain's or a test dependency's, not mcp-orch's (TSan does not see
# Synchronization.Mutex on Linux; Foundation and HummingbirdTesting leak), each explained.
SANITIZE_GROUPS := "--filter OrchGatewayTests" "--skip OrchGatewayTests"
sanitize: deps
	@status=0; \
	for group in $(SANITIZE_GROUPS); do \
	  echo "== ThreadSanitizer: swift test $$group"; \
	  TSAN_OPTIONS="suppressions=$(CURDIR)/Tests/tsan-suppressions.txt $$TSAN_OPTIONS" \
	    $(SWIFT) test --sanitize=thread --build-path .build-tsan $$group || status=1; \
	done; \
	for group in $(SANITIZE_GROUPS); do \
	  echo "== AddressSanitizer: swift test $$group"; \
	  LSAN_OPTIONS="suppressions=$(CURDIR)/Tests/lsan-suppressions.txt $$LSAN_OPTIONS" \
	    $(SWIFT) test --sanitize=address --build-path .build-asan $$group || status=1; \
	done; \
	exit $$status

bench: deps
	bench/run.sh

# Soak / race / load run of a release build (bench/soak): SOAK_SECONDS of load (default 180),
# then the return to baseline and SIGTERM under load; writes its figures into RELIABILITY.md.
SOAK_SECONDS ?= 180
soak: deps
	SOAK_SECONDS=$(SOAK_SECONDS) SOAK_RECORD=RELIABILITY.md bench/soak/run.sh

clean:
	rm -rf .build .venv-mcp1 .venv-mcp2 .venv-bench .venv-schemathesis
