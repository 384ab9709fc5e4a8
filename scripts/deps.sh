#!/bin/sh
# Installs what building and testing ngx_http_audit_module needs, from
# Debian's packages.  Idempotent: when everything is there it only checks.
set -eu

PACKAGES="
    make gcc pkg-config perl openssl
    nginx-dev nginx-light
    libpq-dev libjansson-dev libssl-dev
    postgresql-15 postgresql-client-15
    libdbd-pg-perl libjson-xs-perl
    clang-14 libclang-rt-14-dev
    wrk
"

# the test producer for the Sentry receiver (t/package.json) needs npm;
# a machine that already has node and npm keeps its own
if ! command -v npm >/dev/null 2>&1; then
    PACKAGES="$PACKAGES nodejs npm"
fi

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
            | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

top=$(cd "$(dirname "$0")/.." && pwd)

# t/node_modules: @sentry/node, pinned by t/package-lock.json
install_node_modules() {
    if [ ! -d "$top/t/node_modules/@sentry/node" ] \
            && command -v npm >/dev/null 2>&1; then
        echo "deps: npm ci --prefix t"
        npm ci --prefix "$top/t" --no-audit --no-fund --loglevel=error \
            || echo "deps: npm ci failed; the @sentry/node check will be skipped" >&2
    fi
}

if [ -z "$missing" ]; then
    install_node_modules
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "deps: missing packages:$missing" >&2
    echo "deps: run as root, or: sudo apt-get install -y$missing" >&2
    exit 1
fi

echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# Debian's packages would start a default nginx and PostgreSQL cluster; the
# tests run their own on free ports, so keep package scripts from starting
# services (policy-rc.d answers "not allowed" while installing).
policy=/usr/sbin/policy-rc.d
created=
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    created=1
fi
trap '[ -n "$created" ] && rm -f "$policy"' EXIT

apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing

install_node_modules
