#!/bin/bash
# Builds the Debian packages libnginx-mod-http-audit (debian/, built by
# dh-sequence-nginx from nginx-dev; with audit-verify) and
# postgresql-15-audit-ed25519 (audit_ed25519.so) into build/, and runs
# lintian on them.
#
#   scripts/build-deb.sh     (make deb)
#
# dpkg-buildpackage writes its results to the parent of the source tree,
# so the source is copied to build/deb/src/<pkg>-<version>/ and built
# there: nothing is written beside the repository.  Builds the source
# package (native) and the binary ones, so lintian checks both.  The
# packages are build/<package>_<version>_<arch>.deb; the .dsc, .changes,
# the -dbgsym packages and lintian's full report (with info and pedantic
# tags) are in build/deb/.  Fails when lintian reports an error.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
out=$build/deb

cd "$top"
pkg=$(dpkg-parsechangelog -S Source)
version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -q DEB_HOST_ARCH)

# the package's version is the module's (NGX_HTTP_AUDIT_VERSION)
module_version=$(sed -n 's/^#define NGX_HTTP_AUDIT_VERSION *"\(.*\)"/\1/p' \
    ngx_http_audit_module/ngx_http_audit_module.h)
if [ "$version" != "$module_version" ]; then
    echo "deb: debian/changelog says $version, NGX_HTTP_AUDIT_VERSION $module_version:" \
         "add a changelog entry (dch -v $module_version)" >&2
    exit 1
fi

src=$out/src/$pkg-$version
rm -rf "$out"
mkdir -p "$src"

# the files of the source tree (tracked, and new ones not ignored), from
# the working tree; without git, everything but build/ and node_modules
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # (a file deleted but not yet committed is listed: left out)
    (cd "$top" && git ls-files -z --cached --others --exclude-standard \
        | perl -0ne 'print if -e substr($_, 0, -1) || -l substr($_, 0, -1)' \
        | xargs -0 cp --parents -a -t "$src")
else
    tar -C "$top" --exclude=./build --exclude=node_modules -cf - . | tar -C "$src" -xf -
fi
rm -rf "$src/t/node_modules"

echo "deb: building $pkg $version in ${src#"$top"/}"
(cd "$src" && dpkg-buildpackage -us -uc) > "$out/build.log" 2>&1 || {
    tail -40 "$out/build.log" >&2
    echo "deb: dpkg-buildpackage failed (log: ${out#"$top"/}/build.log)" >&2
    exit 1
}

changes=$out/${pkg}_${version}_${arch}.changes
find "$out/src" -maxdepth 1 -type f -exec mv -t "$out" {} +
debs=
for p in $(cd "$top" && dh_listpackages); do
    deb=${p}_${version}_${arch}.deb
    cp "$out/$deb" "$build/$deb"
    debs="$debs ${build#"$top"/}/$deb"
done

# lintian on the .changes (source and binary packages), every tag down to
# info and pedantic; errors fail the build, warnings are explained in
# docs/operations.md ("The Debian package")
lintian -I --pedantic "$changes" 2>&1 | grep -v '^running with root privileges' \
    > "$out/lintian.txt" || true
grep -E '^[EW]: ' "$out/lintian.txt" >&2 || true
errors=$(grep -c '^E: ' "$out/lintian.txt" || true)
warnings=$(grep -c '^W: ' "$out/lintian.txt" || true)
if [ "$errors" != 0 ]; then
    echo "deb: lintian reports $errors errors (${out#"$top"/}/lintian.txt)" >&2
    exit 1
fi
echo "deb:$debs (lintian: no errors, $warnings warnings;" \
     "every tag in ${out#"$top"/}/lintian.txt)"
