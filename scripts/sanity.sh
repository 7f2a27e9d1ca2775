#!/usr/bin/env bash
# ansible-test sanity needs the collection under .../ansible_collections/groundwork/k8s
# as a real path: copy the tracked tree there and run it (no ignore files).
# The copy lives outside the checkout (inside it, ansible-test would ask this repo's git for
# files and find none) in a directory of its own per run, so parallel runs never collide.
# tests/fixtures/ is left out: recorded kubeadm/etcd output, byte for byte (multi-document YAML), not code.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BASE=$(mktemp -d "${TMPDIR:-/tmp}/groundwork-sanity.XXXXXX")
trap 'rm -rf "$BASE"' EXIT
DEST="$BASE/ansible_collections/groundwork/k8s"
mkdir -p "$DEST"
cd "$ROOT"
git ls-files -z --cached --others --exclude-standard -- . ':(exclude)tests/fixtures' | rsync -a --from0 --files-from=- ./ "$DEST/"
cd "$DEST"
"$ROOT/.venv/bin/ansible-test" sanity --venv --python 3.11 --color no "$@" 2>&1 | grep -v -E "^WARNING: Location 'file:|^(Collecting|  Downloading|Processing|Looking in|Installing|Successfully installed)|━━"
