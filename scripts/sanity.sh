#!/usr/bin/env bash
# ansible-test sanity needs the collection under .../ansible_collections/groundwork/k8s
# as a real path: copy the tracked tree there and run it (no ignore files).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Outside the checkout: inside it, ansible-test would ask this repo's git for files and find none.
DEST="${GW_SANITY_DIR:-/tmp/groundwork-sanity-$(id -u)}/ansible_collections/groundwork/k8s"
rm -rf "$DEST"; mkdir -p "$DEST"
cd "$ROOT"
git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ "$DEST/"
cd "$DEST"
exec "$ROOT/.venv/bin/ansible-test" sanity --venv --python 3.11 --color no "$@"
