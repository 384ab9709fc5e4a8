# ngx_http_audit_module: the entry points a newcomer uses.
#
#   make test    install what is missing, build, run every test
#   make demo    install what is missing, build, run the demo portal
#
# Everything is built under build/; nothing outside the repo is written
# except Debian packages installed by scripts/deps.sh.

BUILD       ?= $(CURDIR)/build
MODULE      := $(BUILD)/nginx/ngx_http_audit_module.so
CORE        := ngx_http_audit_module/core
PROVE_FLAGS ?= -I t/lib
FUZZ_SECONDS ?= 10

.PHONY: all deps build module core-test core-asan fuzz-smoke test demo \
        bench fuzz clean

all: build

deps:
	@sh scripts/deps.sh

build: deps module

module:
	@BUILD=$(BUILD)/nginx scripts/build-module.sh

core-test: deps
	@$(MAKE) -s -C $(CORE) test BUILD=$(BUILD)/core

core-asan: deps
	@$(MAKE) -s -C $(CORE) asan BUILD=$(BUILD)/core

# every fuzz target for FUZZ_SECONDS on its corpus; the output goes to a
# file and only a finding shows it
fuzz-smoke: deps
	@mkdir -p $(BUILD)
	@echo "fuzz: each target $(FUZZ_SECONDS)s (log: $(BUILD)/fuzz.log)"
	@$(MAKE) -s -C $(CORE) fuzz BUILD=$(BUILD)/fuzz \
	    FUZZ_SECONDS=$(FUZZ_SECONDS) > $(BUILD)/fuzz.log 2>&1 \
	    || { tail -60 $(BUILD)/fuzz.log; exit 1; }
	@grep -E '^== |^Done [0-9]+ runs' $(BUILD)/fuzz.log

test: build core-test core-asan fuzz-smoke
	prove $(PROVE_FLAGS) t/

fuzz: deps
	@$(MAKE) -s -C $(CORE) fuzz BUILD=$(BUILD)/fuzz

demo: build
	@scripts/demo

bench: build
	bench/run

clean:
	rm -rf $(BUILD)
