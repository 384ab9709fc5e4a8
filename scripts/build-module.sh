#!/bin/bash
# Builds ngx_http_audit_module as a dynamic module against Debian's
# nginx-dev (/usr/share/nginx/src), with Debian's own configure arguments,
# so the .so's module signature matches /usr/sbin/nginx.  Nothing is
# written under /usr/share/nginx/src: objects go to $BUILD (build/nginx).
#
# Extra compiler flags (sanitizers) come in through AUDIT_CC_OPT and
# AUDIT_LD_OPT.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build/nginx}
src=/usr/share/nginx/src

cc_opt="-g -O2 -fPIC ${AUDIT_CC_OPT:-}"
ld_opt="-fPIC ${AUDIT_LD_OPT:-}"

mkdir -p "$build"

# configure again only when the flags, the config script or the set of
# source or header files changed (the generated Makefile names both): a
# plain edit of a file needs only make
stamp="$build/.configured"
want="$cc_opt|$ld_opt|$(cat "$top/config")|$(cd "$top" && ls ngx_http_audit_module/*.[ch] ngx_http_audit_module/sinks/*.[ch] ngx_http_audit_module/core/*.[ch] 2>/dev/null)|$(cd "$top" && cat ngx_http_audit_module/console/* 2>/dev/null | cksum)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    (
        cd "$src"
        # shellcheck disable=SC1091
        . ./conf_flags
        ./configure --with-cc-opt="$cc_opt" --with-ld-opt="$ld_opt" \
            "${NGX_CONF_FLAGS[@]}" \
            --add-dynamic-module="$top" --builddir="$build"
    ) > "$build/configure.log" 2>&1 || {
        tail -30 "$build/configure.log" >&2
        exit 1
    }
    printf '%s' "$want" > "$stamp"
fi

make -s -f "$build/Makefile" -C "$src" modules
