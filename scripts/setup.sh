#!/usr/bin/env bash
# Installs what geoseek needs on Debian/Ubuntu when it is missing, and says
# what it did. Safe to run again: it does nothing when all is present.
# Used by `make run`, `make test` and `make bench`.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup: not root and no sudo: install the packages below by hand" >&2
  fi
fi

PG_MAJOR="${GEOSEEK_PG_MAJOR:-15}"
# Required: the server and PostGIS. Optional: RUM (faster ranked full text),
# GDAL's command-line tools (the GIS-client tests), libvips is not needed.
required=("postgresql-$PG_MAJOR" "postgresql-$PG_MAJOR-postgis-3" "postgresql-contrib")
optional=("postgresql-$PG_MAJOR-rum" "gdal-bin")
# pgvector is packaged on Debian 13, Ubuntu and PGDG, not on Debian 12.
vector_pkg="postgresql-$PG_MAJOR-pgvector"

missing() {
  local out=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || out+=("$p")
  done
  echo "${out[@]:-}"
}

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "setup: not a Debian-like system; install PostgreSQL $PG_MAJOR+ with PostGIS 3 (and pgvector) yourself, or set DATABASE_URL" >&2
  exit 0
fi

need="$(missing "${required[@]}" "${optional[@]}")"
vec_missing=""
if ! ls /usr/share/postgresql/"$PG_MAJOR"/extension/vector.control >/dev/null 2>&1; then
  vec_missing="$vector_pkg"
fi

if [ -n "$need" ] || [ -n "$vec_missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  echo "setup: installing: ${need:-} ${vec_missing:-}"
  $SUDO apt-get update -qq >/dev/null || echo "setup: apt-get update failed; trying with the lists we have" >&2
  # One package at a time for the optional ones, so one that cannot be had
  # does not keep the others out.
  req_need="$(missing "${required[@]}")"
  if [ -n "$req_need" ]; then
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $req_need >/dev/null
  fi
  for p in $(missing "${optional[@]}"); do
    $SUDO apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 ||
      echo "setup: NOTE: optional package $p could not be installed" >&2
  done
  if [ -n "$vec_missing" ]; then
    if $SUDO apt-get install -y -qq --no-install-recommends "$vector_pkg" >/dev/null 2>&1; then
      echo "setup: installed $vector_pkg"
    else
      echo "setup: NOTE: no $vector_pkg package here (Debian 12 has none): geoseek runs without pgvector;" \
           "semantic/hybrid search answer 503 and vector tests print 'SKIP: pgvector not installed'. See README." >&2
    fi
  fi
fi

# The map page: Node.js and npm build its assets (web/), Chromium runs its
# browser tests. Installed when missing; without them the binary still
# builds (/map then says how to build the assets) and the browser tests
# skip, loudly (they fail under CI=true).
web_need=()
command -v node >/dev/null 2>&1 || web_need+=(nodejs)
command -v npm >/dev/null 2>&1 || web_need+=(npm)
command -v chromium >/dev/null 2>&1 || web_need+=(chromium)
if [ "${#web_need[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  echo "setup: installing for the map page: ${web_need[*]}"
  [ -n "$need" ] || [ -n "$vec_missing" ] || $SUDO apt-get update -qq >/dev/null || true
  for p in "${web_need[@]}"; do
    $SUDO apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 ||
      echo "setup: NOTE: $p could not be installed: the map page's assets or browser tests need it" >&2
  done
fi

if ! command -v go >/dev/null 2>&1; then
  echo "setup: Go 1.26 or later is required (https://go.dev/doc/install)" >&2
  exit 1
fi
echo "setup: ok ($(go version | cut -d' ' -f3); PostgreSQL $PG_MAJOR; pgvector: $([ -f /usr/share/postgresql/"$PG_MAJOR"/extension/vector.control ] && echo yes || echo no))"
