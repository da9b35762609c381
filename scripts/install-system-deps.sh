#!/usr/bin/env bash
# Installs the real engines the integration and end-to-end tests start on loopback:
# Redis (scaled queue), PostgreSQL (scaled database), Chromium (console and plugin tests) and
# Node.js + npm (the Flex plugin's build and tests). Debian only;
# skips what is already there, so a second run costs nothing.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# Node.js and npm build and test the Flex plugin (plugin-flexrec/); Debian's own packages.
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: need root to install: ${need[*]} (tests needing them will be skipped)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
