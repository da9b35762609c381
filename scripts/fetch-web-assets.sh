#!/usr/bin/env bash
# Vendor wavesurfer.js's ES module build into the console's static folder (no build step, no CDN).
# Installs the pinned version from the npm registry into a throwaway folder, then copies the
# ESM files the console imports plus the licence, which must travel with the copied code.
set -euo pipefail

WAVESURFER_VERSION="${WAVESURFER_VERSION:-8.0.1}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="$here/../flexrec/console/static/vendor/wavesurfer"

if ! command -v npm >/dev/null 2>&1; then
    echo "fetch-web-assets: npm not found; the vendored copy in $dest is used as is" >&2
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if ! npm install --prefix "$work" --no-audit --no-fund --no-save --ignore-scripts \
    "wavesurfer.js@${WAVESURFER_VERSION}" >/dev/null; then
    # Offline is fine as long as the committed copy is there: the package ships it.
    if [ -f "$dest/wavesurfer.esm.js" ] && [ -f "$dest/LICENSE" ]; then
        echo "fetch-web-assets: npm install failed; keeping the vendored copy in $dest" >&2
        exit 0
    fi
    echo "fetch-web-assets: npm install failed and nothing is vendored yet" >&2
    exit 1
fi
pkg="$work/node_modules/wavesurfer.js"

mkdir -p "$dest/plugins"
cp "$pkg/dist/wavesurfer.esm.js" "$dest/wavesurfer.esm.js"
for plugin in regions; do
    cp "$pkg/dist/plugins/$plugin.esm.js" "$dest/plugins/$plugin.esm.js"
done
cp "$pkg/LICENSE" "$dest/LICENSE"
printf 'wavesurfer.js %s (npm), BSD-3-Clause: see LICENSE\n' "$WAVESURFER_VERSION" >"$dest/VERSION"
echo "fetch-web-assets: wavesurfer.js $WAVESURFER_VERSION -> $dest"
