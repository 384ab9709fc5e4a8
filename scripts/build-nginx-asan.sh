#!/bin/bash
# Builds nginx itself, from Debian's source package of the installed
# version, with AddressSanitizer + UndefinedBehaviorSanitizer, and
# ngx_http_audit_module as a dynamic module against that tree (same
# configure arguments, so the module signature matches).  For `make
# test-asan`; see docs/hardening.md.
#
#   build/asan-nginx/src/        `apt-get source nginx` (Debian patches applied)
#   build/asan-nginx/nginx-obj/  nginx's objects
#   build/asan-nginx/module-obj/ the module's objects
#   build/asan-nginx/sbin/nginx  the sanitized nginx        (AUDIT_NGINX)
#   build/asan-nginx/ngx_http_audit_module.so               (AUDIT_MODULE)
#
# nginx is built once (again only when the flags or the source version
# change); the module part is configured again only when its flags, its
# config script or its set of source files change, and otherwise is a
# plain incremental make.
#
# NGX_DEBUG_PALLOC=1 makes every pool allocation its own malloc(), so ASan
# sees an overflow of one pool allocation into the next.  Shared memory
# (ngx_slab) is not instrumented.
#
# clang, not gcc: gcc links two sanitizer runtimes (libasan, libubsan) that
# each open the log_path file and overwrite each other's reports; clang's
# one runtime writes ASan and UBSan reports to the same file.
#
# Environment: BUILD (default build/asan-nginx), ASAN_NGINX_CC (default
# clang-14),
# ASAN_NGINX_CC_OPT / ASAN_NGINX_LD_OPT to replace the sanitizer flags;
# ASAN_MODULE_SRC (default: this checkout), ASAN_MODULE_OBJ and
# ASAN_MODULE_SO to build another copy of the module (a patched one)
# against the same sanitized nginx.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=${BUILD:-$top/build/asan-nginx}
cc=${ASAN_NGINX_CC:-clang-14}
san="-fsanitize=address,undefined -fno-omit-frame-pointer"
cc_opt=${ASAN_NGINX_CC_OPT:-"-g -O1 $san -DNGX_DEBUG_PALLOC=1 -fPIC"}
ld_opt=${ASAN_NGINX_LD_OPT:-"$san -fPIC"}
conf_flags=/usr/share/nginx/src/conf_flags     # Debian's configure args (nginx-dev)
jobs=$(nproc 2>/dev/null || echo 2)

mkdir -p "$out/src"
log() { echo "build-nginx-asan: $*"; }

# --- 1. Debian's nginx source --------------------------------------------------
# The installed version first; when the mirror no longer has it (a security
# update's source can vanish from the archive when superseded), the newest
# source version that the index lists and the mirror has.
fetched="$out/src/.fetched"
if [ ! -f "$fetched" ] || [ ! -d "$(cut -d' ' -f2 "$fetched")" ]; then
    want=$(dpkg-query -W -f='${Version}' nginx-dev 2>/dev/null || true)
    versions=$( { [ -n "$want" ] && echo "$want";
                  apt-cache showsrc --only-source nginx 2>/dev/null \
                      | sed -n 's/^Version: //p' | sort -urV; } | awk '!seen[$0]++')
    [ -n "$versions" ] || { log "no nginx source in the apt index (run scripts/deps.sh asan)" >&2; exit 1; }
    got=
    for v in $versions; do
        rm -rf "$out/src/nginx-"[0-9]*/ "$out/src/"*.dsc "$out/src/"*.debian.tar.*
        log "apt-get source nginx=$v"
        if (cd "$out/src" && apt-get source -qq "nginx=$v") > "$out/src/fetch.log" 2>&1; then
            got=$v
            break
        fi
        grep -E '^(E|W):' "$out/src/fetch.log" | grep -v unsandboxed | sed 's/^/    /' >&2 || true
    done
    [ -n "$got" ] || { log "could not fetch nginx's source" >&2; exit 1; }
    [ "$got" = "$want" ] || log "note: built from source $got, installed nginx-dev is $want"
    dir=$(ls -d "$out/src/nginx-"[0-9]*/ | head -1)
    printf '%s %s\n' "$got" "${dir%/}" > "$fetched"
fi
read -r version src < "$fetched"

# shellcheck disable=SC1090
. "$conf_flags"    # NGX_CONF_FLAGS

configure() {   # builddir logfile extra-args...
    local builddir=$1 logf=$2
    shift 2
    (
        cd "$src"
        CC=$cc ./configure --with-cc="$cc" --with-cc-opt="$cc_opt" \
            --with-ld-opt="$ld_opt" "${NGX_CONF_FLAGS[@]}" \
            --builddir="$builddir" "$@"
    ) > "$logf" 2>&1 || { tail -30 "$logf" >&2; exit 1; }
}

# --- 2. nginx, once --------------------------------------------------------------
nobj="$out/nginx-obj"
nstamp="$out/.nginx-built"
nwant="$version|$cc|$cc_opt|$ld_opt|${NGX_CONF_FLAGS[*]}"
if [ ! -x "$out/sbin/nginx" ] || [ ! -f "$nstamp" ] || [ "$(cat "$nstamp")" != "$nwant" ]; then
    log "building nginx $version with sanitizers (once; a few minutes)"
    rm -rf "$nobj"
    mkdir -p "$nobj" "$out/sbin"
    configure "$nobj" "$out/nginx-configure.log"
    make -s -j"$jobs" -f "$nobj/Makefile" -C "$src" binary > "$out/nginx-make.log" 2>&1 \
        || { tail -40 "$out/nginx-make.log" >&2; exit 1; }
    cp "$nobj/nginx" "$out/sbin/nginx"
    printf '%s' "$nwant" > "$nstamp"
fi

# UBSan reports in nginx's own code, not the module's, that test-asan does
# not count (UBSAN_OPTIONS=suppressions=), each seen in t/:
#   ngx_pstrdup                   ngx_init_cycle() copies an empty conf_param
#                                 (no -g): memcpy(dst, NULL, 0)
#   ngx_sprintf_str               "%V" of an empty ngx_str_t (data NULL) in
#                                 a debug log line: memcpy(dst, NULL, 0)
#   ngx_http_proxy_create_request ngx_cpymem(b, NULL, 0) for an empty part
#   ngx_http_script_add_code      rebases *main by (new - old) also when
#                                 *main is NULL (compiling any complex value)
#   ngx_http_parse_request_line   reads the method as an unaligned uint32_t
#                                 (ngx_str3_cmp), a pipelined request
#   ngx_http_alloc_large_header_buffer
#                                 rebases NULL header pointers by
#                                 (new - old), a long pipelined request line
cat > "$out/ubsan.supp" <<'SUPP'
nonnull-attribute:ngx_pstrdup
nonnull-attribute:ngx_sprintf_str
nonnull-attribute:ngx_http_proxy_create_request
pointer-overflow:ngx_http_script_add_code
alignment:ngx_http_parse_request_line
pointer-overflow:ngx_http_alloc_large_header_buffer
SUPP

# --- 3. the module, incrementally --------------------------------------------------
msrc=$(cd "${ASAN_MODULE_SRC:-$top}" && pwd)
mobj=${ASAN_MODULE_OBJ:-$out/module-obj}
mso=${ASAN_MODULE_SO:-$out/ngx_http_audit_module.so}
mstamp="$mobj/.configured"
# -Bsymbolic: every dynamic module defines its own ngx_modules[] and
# ngx_module_names[] (nginx dlsym()s them); the .so's own references, and
# so ASan's registration of its globals, would otherwise bind to the
# executable's arrays of the same name: a false odr-violation at load and a
# false global-buffer-overflow in ngx_cycle_modules() on the next reload
mld="-Wl,-Bsymbolic"
mwant="$nwant|$mld|$msrc|$(cat "$msrc/config")|$(cd "$msrc" && ls ngx_http_audit_module/*.[ch] ngx_http_audit_module/sinks/*.[ch] ngx_http_audit_module/core/*.[ch] 2>/dev/null)"
mkdir -p "$mobj"
if [ ! -f "$mstamp" ] || [ "$(cat "$mstamp")" != "$mwant" ]; then
    ld_opt="$ld_opt $mld" configure "$mobj" "$mobj/configure.log" \
        --add-dynamic-module="$msrc"
    printf '%s' "$mwant" > "$mstamp"
fi
make -s -j"$jobs" -f "$mobj/Makefile" -C "$src" modules
if ! cmp -s "$mobj/ngx_http_audit_module.so" "$mso"; then
    cp "$mobj/ngx_http_audit_module.so" "$mso"
fi
