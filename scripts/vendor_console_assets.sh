#!/usr/bin/env bash
# Fetch the web console's front-end assets from their npm release tarballs (npm pack: the
# registry's own tarball, integrity-checked by npm) and keep only the dist files the console
# serves plus the licence files. Pinned versions; re-running reproduces the committed files,
# whose sha256 it records in scripts/console-assets.sha256.
#
#   scripts/vendor_console_assets.sh            # re-fetch into src/proofpix_plugins/web/static/vendor
#   scripts/vendor_console_assets.sh --check    # fetch to a temp dir and diff against the tree
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$root/src/proofpix_plugins/web/static/vendor"
dest="$vendor"
if [[ "${1:-}" == "--check" ]]; then dest="$(mktemp -d)"; fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# package@version  directory  files to keep (relative to the package root)
fetch() {
  local spec="$1" dir="$2"; shift 2
  (cd "$work" && npm pack --silent "$spec" >/dev/null)
  local tgz; tgz="$(ls "$work"/*.tgz)"
  mkdir -p "$work/x" && tar -xzf "$tgz" -C "$work/x"
  mkdir -p "$dest/$dir"
  # Licence files are kept as LICENSE whatever their extension (one name for every release).
  for f in "$@"; do
    local name; name="$(basename "$f")"; [[ "$name" == LICENSE* ]] && name=LICENSE
    cp "$work/x/package/$f" "$dest/$dir/$name"
  done
  rm -rf "$work/x" "$tgz"
}

fetch htmx.org@2.0.11 htmx.org-2.0.11 dist/htmx.min.js LICENSE
fetch @picocss/pico@2.1.1 pico-2.1.1 css/pico.min.css LICENSE.md
fetch uplot@1.6.32 uplot-1.6.32 dist/uPlot.iife.min.js dist/uPlot.min.css LICENSE
# Tests only (the accessibility check injects it); never referenced by a page.
fetch axe-core@4.14.1 axe-core-4.14.1 axe.min.js LICENSE

sums() { (cd "$1" && find htmx.org-* pico-* uplot-* axe-core-* -type f | sort | xargs sha256sum); }
record="$root/scripts/console-assets.sha256"
if [[ "$dest" == "$vendor" ]]; then
  sums "$vendor" > "$record"
  cat "$record"
else
  diff <(sums "$dest") "$record" && echo "vendored console assets match their npm releases"
  rm -rf "$dest"
fi
