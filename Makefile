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

.PHONY: all deps build module core-test test demo bench fuzz clean

all: build

deps:
	@sh scripts/deps.sh

build: deps module

module:
	@BUILD=$(BUILD)/nginx scripts/build-module.sh

core-test: deps
	@$(MAKE) -s -C $(CORE) test BUILD=$(BUILD)/core

test: build core-test
	prove $(PROVE_FLAGS) t/

fuzz: deps
	@$(MAKE) -s -C $(CORE) fuzz BUILD=$(BUILD)/fuzz

demo: build
	@echo "make demo: not yet (issue 8); 'make test' runs the module end to end"

bench: build
	bench/run

clean:
	rm -rf $(BUILD)
