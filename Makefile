# ngx_http_audit_module: the entry points a newcomer uses.
#
#   make test    install what is missing, build, run every test (what CI
#                runs, .ci/run): core unit tests plain and under ASan/UBSan,
#                fuzz regressions, each fuzz target FUZZ_SECONDS, the t/
#                suite against Debian's nginx, then again against nginx and
#                the module built with ASan/UBSan (test-asan)
#   make demo    install what is missing, build, run the demo portal
#   make check   the quick loop: build, core unit tests, the t/ suite
#   make deb     the Debian package build/libnginx-mod-http-audit_*.deb
#                (debian/, dh-sequence-nginx; lintian must find no error);
#                make test builds it before the t/ suite, whose
#                t/85-deb.t installs and purges it
#   make test-asan      t/ against nginx + module built with ASan/UBSan
#   make test-valgrind  a t/ subset under valgrind (slow; not for CI)
#                       (both: docs/hardening.md)
#
# Everything is built under build/; nothing outside the repo is written
# except Debian packages installed by scripts/deps.sh (t/85-deb.t installs
# build/'s own package and purges it again; and, for test-asan,
# its deb-src line in /etc/apt/sources.list.d/audit-deb-src.list).

BUILD       ?= $(CURDIR)/build
MODULE      := $(BUILD)/nginx/ngx_http_audit_module.so
CORE        := ngx_http_audit_module/core
PROVE_FLAGS ?= -I t/lib
FUZZ_SECONDS ?= 60

.PHONY: all deps build module tools pg-ext core-test core-asan fuzz-smoke fuzz-regress \
        test check suite deb deb-deps demo bench fuzz clean asan-deps asan-nginx test-asan valgrind-deps \
        valgrind-module test-valgrind

all: build

deps:
	@sh scripts/deps.sh

build: deps module tools pg-ext

module:
	@BUILD=$(BUILD)/nginx scripts/build-module.sh

# the offline verifier, build/audit-verify (docs/checkpoints.md)
tools:
	@$(MAKE) -s -C $(CORE) tools BUILD=$(BUILD)/core
	@cp $(BUILD)/core/audit-verify $(BUILD)/audit-verify

# audit.ed25519_verify() for PostgreSQL, build/pg/audit_ed25519.so
pg-ext:
	@$(MAKE) -s -C pg BUILD=$(BUILD)/pg

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

# every fuzz target once over its corpus and its crash reproducers
fuzz-regress: deps
	@$(MAKE) -s -C $(CORE) fuzz-regress BUILD=$(BUILD)/fuzz

suite: build
	prove $(PROVE_FLAGS) t/

test: build core-test core-asan fuzz-regress fuzz-smoke deb suite test-asan

check: build core-test suite

deb-deps:
	@sh scripts/deps.sh deb

# built from a copy under build/deb/src (dpkg-buildpackage writes to ..)
deb: deb-deps
	@scripts/build-deb.sh

fuzz: deps
	@$(MAKE) -s -C $(CORE) fuzz BUILD=$(BUILD)/fuzz

demo: build
	@scripts/demo

bench: build
	bench/run

clean:
	rm -rf $(BUILD)

# --- sanitizers and valgrind (docs/hardening.md) -----------------------------

ASAN_DIR  := $(BUILD)/asan-nginx
ASAN_LOGS := $(BUILD)/asan-logs
# ASan: a report aborts the process (SIGABRT: the master logs "exited on
# signal 6", which every t/ error-log check looks for); leaks are left to
# test-valgrind (nginx's exit paths keep their pools by design).  UBSan goes on
# after a report; its suppressions (nginx's own UB only) are written by
# scripts/build-nginx-asan.sh.  Every report goes to a file under
# $(ASAN_LOGS) (world-writable: the demo's workers run as www-data).
SAN_COMMON = log_path=$(ASAN_LOGS)/san:abort_on_error=1
ASAN_ENV = AUDIT_NGINX=$(ASAN_DIR)/sbin/nginx \
    AUDIT_MODULE=$(ASAN_DIR)/ngx_http_audit_module.so \
    ASAN_OPTIONS=$(SAN_COMMON):detect_leaks=0 \
    UBSAN_OPTIONS=$(SAN_COMMON):print_stacktrace=1:halt_on_error=0:suppressions=$(ASAN_DIR)/ubsan.supp
ASAN_TESTS ?= t/

asan-deps:
	@sh scripts/deps.sh asan

# nginx itself once (minutes), then the module incrementally
asan-nginx: asan-deps
	@BUILD=$(ASAN_DIR) scripts/build-nginx-asan.sh

# fails on a failed test or on any non-empty sanitizer report file
test-asan: core-asan asan-nginx
	@rm -rf $(ASAN_LOGS) && mkdir -p $(ASAN_LOGS) && chmod 1777 $(ASAN_LOGS)
	@status=0; $(ASAN_ENV) prove $(PROVE_FLAGS) $(ASAN_TESTS) || status=$$?; \
	scripts/sanitizer-reports $(ASAN_LOGS) || exit 1; \
	[ $$status != 0 ] || echo "test-asan: no sanitizer report"; \
	exit $$status

VG_DIR    := $(BUILD)/valgrind
VG_MODULE := $(BUILD)/nginx-O1/ngx_http_audit_module.so
VG_TESTS  ?= t/

valgrind-deps:
	@sh scripts/deps.sh valgrind

# the module at -O1 -g against Debian's nginx-dev (Debian's nginx runs it)
valgrind-module: valgrind-deps
	@BUILD=$(BUILD)/nginx-O1 AUDIT_CC_OPT="-O1 -g -fno-omit-frame-pointer" \
	    scripts/build-module.sh

# Debian's nginx under valgrind (scripts/valgrind-nginx), master_process on
# as always in t/; prints a summary, fails on a definitely lost block whose
# stack has ngx_http_audit_* or audit_* in it, or on a valgrind error there
test-valgrind: valgrind-module
	@rm -rf $(VG_DIR) && mkdir -p $(VG_DIR)
	@status=0; AUDIT_NGINX=$(CURDIR)/scripts/valgrind-nginx \
	    AUDIT_MODULE=$(VG_MODULE) VALGRIND_LOG_DIR=$(VG_DIR) \
	    prove $(PROVE_FLAGS) $(VG_TESTS) || status=$$?; \
	perl scripts/valgrind-summary $(VG_DIR) || status=1; \
	exit $$status
