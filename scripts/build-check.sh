#!/usr/bin/env bash
# The collection builds, installs, and its plugins load from the installed copy.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/build/dist"; INST="$ROOT/build/installed"
rm -rf "$OUT" "$INST"; mkdir -p "$OUT" "$INST"
cd "$ROOT"
ansible-galaxy collection build --force --output-path "$OUT" .
ansible-galaxy collection install --force --offline --no-deps -p "$INST" "$OUT"/groundwork-k8s-*.tar.gz
export ANSIBLE_COLLECTIONS_PATH="$INST"
n=0
for m in "$INST"/ansible_collections/groundwork/k8s/plugins/modules/*.py; do
  [ -e "$m" ] || continue
  name=$(basename "$m" .py)
  ansible-doc -t module "groundwork.k8s.$name" >/dev/null
  PYTHONPATH="$INST" python -c "import ansible_collections.groundwork.k8s.plugins.modules.$name"
  n=$((n + 1))
done
test -f "$INST/ansible_collections/groundwork/k8s/galaxy.yml" -o -f "$INST/ansible_collections/groundwork/k8s/MANIFEST.json"
if ls "$INST"/ansible_collections/groundwork/k8s/plugins/filter/*.py >/dev/null 2>&1; then
  ansible-doc -t filter -l groundwork.k8s
fi
# from a git URL too (a clone's HEAD; what "ansible-galaxy collection install git+https://..." does)
if [ -d "$ROOT/.git" ]; then
  GIT_INST="$ROOT/build/installed-git"; rm -rf "$GIT_INST"
  ansible-galaxy collection install --force --no-deps -p "$GIT_INST" "git+file://$ROOT" >/dev/null
  test -f "$GIT_INST/ansible_collections/groundwork/k8s/playbooks/site.yml"
  echo "build-check: installs from git+file://$ROOT"
fi
# the generated reference (docs/reference/) matches the modules' docs and the roles' argument specs
python3 "$ROOT/scripts/gen-docs.py" --check
echo "build-check: tarball installs; $n modules load their docs"
