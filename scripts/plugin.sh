#!/usr/bin/env bash
# Builds and unit-tests the Flex plugin (plugin-flexrec/): dependencies from its lockfile
# (`npm ci`, the npm registry is the only network it needs), TypeScript check, Jest, bundle.
# The bundle is what the plugin's browser test (tests/e2e/test_flex_plugin_browser.py) loads.
set -euo pipefail
cd "$(dirname "$0")/../plugin-flexrec"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ -n "${FLEXREC_CI:-}${CI:-}" ]; then
    echo "plugin: node and npm are required under CI (make system-deps installs them)" >&2
    exit 1
  fi
  echo "plugin: node/npm not installed; skipping the plugin's build and tests" >&2
  exit 0
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 18 ]; then
  echo "plugin: Node.js >= 18 is needed, found $(node --version)" >&2
  exit 1
fi
# npm ci wipes node_modules and installs exactly the lockfile: only when the lockfile changed.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run --silent typecheck
npm test --silent -- --ci
npm run --silent build
