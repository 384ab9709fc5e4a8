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

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
            | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
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
