#!/usr/bin/env bash
# Vendor wavesurfer.js's ES module build into the console's static folder, and Swagger UI and
# Redoc into the service's /docs and /redoc assets (no build step, no CDN). Installs the pinned
# versions from the npm registry into a throwaway folder, then copies the files the pages load
# plus the licences, which must travel with the copied code.
set -euo pipefail

WAVESURFER_VERSION="${WAVESURFER_VERSION:-8.0.1}"
SWAGGER_UI_VERSION="${SWAGGER_UI_VERSION:-5.35.0}"
REDOC_VERSION="${REDOC_VERSION:-2.5.4}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="$here/../flexrec/console/static/vendor/wavesurfer"
docs="$here/../flexrec/server/static/docs"

if ! command -v npm >/dev/null 2>&1; then
    echo "fetch-web-assets: npm not found; the vendored copy in $dest is used as is" >&2
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if ! npm install --prefix "$work" --no-audit --no-fund --no-save --ignore-scripts \
    "wavesurfer.js@${WAVESURFER_VERSION}" "swagger-ui-dist@${SWAGGER_UI_VERSION}" \
    "redoc@${REDOC_VERSION}" >/dev/null; then
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

mkdir -p "$docs"
swagger="$work/node_modules/swagger-ui-dist"
redoc="$work/node_modules/redoc"
cp "$swagger/swagger-ui-bundle.js" "$swagger/swagger-ui-bundle.js.LICENSE.txt" \
    "$swagger/swagger-ui.css" "$docs/"
cp "$swagger/LICENSE" "$docs/LICENSE.swagger-ui"
# The source map is not shipped; its comment would only make browsers ask for it.
sed -E '/^\/\/[#@] sourceMappingURL=[^ ]*$/d' "$redoc/bundles/redoc.standalone.js" >"$docs/redoc.standalone.js"
cp "$redoc/bundles/redoc.standalone.js.LICENSE.txt" "$docs/"
cp "$redoc/LICENSE" "$docs/LICENSE.redoc"
printf 'swagger-ui-dist %s (npm, Apache-2.0) and redoc %s (npm, MIT): see the LICENSE files\n' \
    "$SWAGGER_UI_VERSION" "$REDOC_VERSION" >"$docs/VERSION"
echo "fetch-web-assets: swagger-ui $SWAGGER_UI_VERSION, redoc $REDOC_VERSION -> $docs"
