#!/usr/bin/env bash
# Copy the collection to a path ansible-test accepts (ansible_collections/<ns>/<name>) and run sanity there.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
dest=${SANITY_ROOT:-/tmp/containerhost-sanity}/ansible_collections/containerhost/platform
rm -rf "$dest" && mkdir -p "$dest"
rsync -a --exclude /collections --exclude /.testbed --exclude /.venv --exclude /.git --exclude __pycache__ \
  --exclude /tests/output "$src/" "$dest/"
cd "$dest"
exec ansible-test sanity --python "$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')" "$@"
