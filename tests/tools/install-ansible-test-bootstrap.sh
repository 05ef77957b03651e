#!/usr/bin/env bash
# ansible-test downloads a pip bootstrap script from a host this machine cannot reach; put the offline
# stand-in (tests/tools/get_pip_offline.py) where ansible-test looks for its cached copy.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(python -c 'import ansible_test, os; print(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py"))')
version=$(sed -n "s/.*pip='\([0-9.]*\)'.*/\1/p" "$src" | head -n1)
[ -n "$version" ] || { echo "cannot find the pip version ansible-test wants in $src" >&2; exit 1; }
mkdir -p ~/.ansible/test/cache
install -m 0644 "$here/get_pip_offline.py" ~/.ansible/test/cache/get_pip_"${version//./_}".py
