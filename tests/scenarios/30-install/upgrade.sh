#!/usr/bin/env bash
# Sourced by run.sh: the upgrade part, run on the HA cluster of part "ha" (GW_UPGRADE=0 skips it).
# The doubles of the next patch release (VERSION v1.35.1; the lab installed cluster version v1.35.0
# with kubeadm v1.35.0-alpha.1) are served beside the first ones; upgrade.yml runs with the
# inventory's version and binaries set to them, as a user does.
UPGRADE_TO=v1.35.1

stage_upgrade() {
  local d="$WORK/www/doubles-$UPGRADE_TO" f base
  mkdir -p "$d"
  for f in fake_kubeadm fake_kubelet fake_kubectl; do
    sed "s/^VERSION = \"v1.35.0-alpha.1\"$/VERSION = \"$UPGRADE_TO\"/" "$ROOT/tests/doubles/$f" > "$d/$f"
    grep -q "^VERSION = \"$UPGRADE_TO\"$" "$d/$f" || return 1
  done
  base="http://$CTL_IP:$HTTP_PORT/doubles-$UPGRADE_TO"
  {
    echo "groundwork_kubernetes_version: $UPGRADE_TO"
    echo "kubernetes_binaries_files:"
    for f in kubeadm kubelet kubectl; do
      echo "  - {name: $f, url: \"$base/fake_$f\", checksum: \"sha256:$(sha256sum "$d/fake_$f" | cut -c1-64)\", dest: /usr/local/bin/$f}"
    done
  } > "$WORK/upgrade-vars.yml"
}

# shellcheck disable=SC2016  # the commands run on the lab host, quoted for it
manifest_tags() { # host -> tags of the apiserver, controller-manager and scheduler images
  ssh_host "$1" -- 'for c in kube-apiserver kube-controller-manager kube-scheduler; do
    grep -o "$c:v[^\"[:space:]]*" /etc/kubernetes/manifests/$c.yaml | head -1 | cut -d: -f2; done' | tr '\n' ' ' | sed 's/ $//'
}

cluster_version() { # kubernetesVersion of the kubeadm-config ConfigMap (the API double's state, on cp1)
  ssh_host cp1 -- python3 -c '"import json; s = json.load(open(\"/var/lib/fake-kube-apiserver/state.json\")); print(json.loads(s[\"configmaps\"][\"kube-system/kubeadm-config\"][\"data\"][\"ClusterConfiguration\"])[\"kubernetesVersion\"])"'
}

# shellcheck disable=SC2016
node_state() { # host -> "kubelet --version:recorded version and kubeadm mode:kubelet unit:note"
  ssh_host "$1" -- 'echo "$(/usr/local/bin/kubelet --version):$(python3 -c "import json; r = json.load(open(\"/var/lib/kubelet/groundwork-upgrade.json\")); print(r[\"version\"], r[\"mode\"])" 2>/dev/null):$(systemctl is-active kubelet):$(test -e /var/lib/kubelet/groundwork-upgrade-drained && echo note || echo no-note)"'
}

task_hosts() { # task title, log -> hosts the task reported changed, in order
  awk -v t="$1" 'index($0, "TASK [") == 1 { on = index($0, t) > 0; next } on && /^changed: \[/ { gsub(/[][]/, "", $2); print $2 }' "$2" | tr '\n' ' '
}

upgrade_ha() {
  local t=$SECONDS before h
  stage_upgrade || { fail "staging the $UPGRADE_TO doubles"; return; }
  before="$(manifest_tags cp2):$(ssh_host w1 -- /usr/local/bin/kubelet --version)"
  # refusals first: each must stop before anything changes
  play playbooks/upgrade.yml -e "@$WORK/upgrade-vars.yml" -e groundwork_kubernetes_version=v1.37.0
  check "a target two minors ahead is refused with what to do" \
    grep -q "one minor version at a time; upgrade to the newest v1.36.x first" "$WORK/last.log"
  play playbooks/upgrade.yml -e "@$WORK/upgrade-vars.yml"
  check "no backup program: refused, says how to get one or opt out" grep -q "No etcd backup program on cp1" "$WORK/last.log"
  play playbooks/upgrade.yml -e "@$WORK/upgrade-vars.yml" -e upgrade_backup=false --limit w1
  check "a limit without the first control plane (no check ran): refused" \
    grep -q "The upgrade check runs on the first control plane (cp1) and did not run" "$WORK/last.log"
  check "nothing changed by the refused runs ($before)" \
    [ "$(manifest_tags cp2):$(ssh_host w1 -- /usr/local/bin/kubelet --version)" = "v1.35.0 v1.35.0 v1.35.0:Kubernetes v1.35.0-alpha.1" ]
  # check mode: runs through, reports changes, changes nothing
  if play playbooks/upgrade.yml -e "@$WORK/upgrade-vars.yml" -e upgrade_backup=false --check; then
    check "check mode reports changes on every node (changed=$(changed_sum))" [ "$(changed_sum)" -ge 5 ]
  else
    fail "upgrade.yml --check"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -40
  fi
  check "nothing changed by the refused runs and the check-mode run" \
    [ "$(manifest_tags cp2):$(ssh_host w1 -- /usr/local/bin/kubelet --version):$(ssh_host w1 -- ls /var/lib/kubelet/groundwork-upgrade.json 2>&1 | grep -c 'No such')" = "v1.35.0 v1.35.0 v1.35.0:Kubernetes v1.35.0-alpha.1:1" ]
  mark "upgrade-refusals+check" "$t"

  t=$SECONDS
  if play playbooks/upgrade.yml -e "@$WORK/upgrade-vars.yml" -e upgrade_backup=false; then
    mark "upgrade" "$t"
    log "upgrade to $UPGRADE_TO ok ($(( SECONDS - t ))s, changed=$(changed_sum))"
  else
    fail "upgrade.yml"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -60; return
  fi
  cp "$WORK/last.log" "$WORK/upgrade.log"
  log "plan: $(tr '\n' ' ' < "$WORK/upgrade.log" | tr -s ' ' | grep -o 'Cluster at .*backup first: [A-Za-z]*' | head -1)"
  check "kubeadm upgrade ran on cp1 first, then cp2, cp3, then the workers" \
    [ "$(task_hosts 'Kubeadm upgrade (apply' "$WORK/upgrade.log")" = "cp1 cp2 cp3 w1 w2 " ]
  for h in cp1 cp2 cp3; do
    check "$h control plane runs $UPGRADE_TO" [ "$(manifest_tags $h)" = "$UPGRADE_TO $UPGRADE_TO $UPGRADE_TO" ]
  done
  check "kubeadm-config says $UPGRADE_TO" [ "$(cluster_version)" = "$UPGRADE_TO" ]
  for h in cp1 cp2 cp3 w1 w2; do
    local mode=node; [ "$h" = cp1 ] && mode=apply
    check "$h: kubelet $UPGRADE_TO running, recorded (kubeadm upgrade $mode), note gone" \
      [ "$(node_state $h)" = "Kubernetes $UPGRADE_TO:$UPGRADE_TO $mode:active:no-note" ]
  done
  check "every node drained, then uncordoned" \
    [ "$(task_hosts 'Drain the node' "$WORK/upgrade.log")|$(task_hosts 'Uncordon the node' "$WORK/upgrade.log")" = "cp1 cp2 cp3 w1 w2 |cp1 cp2 cp3 w1 w2 " ]
  check "5 Ready nodes after the upgrade" [ "$(ready_nodes cp2)" = "cp1 cp2 cp3 w1 w2" ]

  t=$SECONDS
  if play playbooks/upgrade.yml -e "@$WORK/upgrade-vars.yml" -e upgrade_backup=false; then
    mark "upgrade-rerun" "$t"
    check "upgrade second run changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]
    [ "$(changed_sum)" -eq 0 ] || grep -B3 '^changed:' "$WORK/last.log" | head -40
  else
    fail "upgrade.yml second run"; grep -A20 'fatal:' "$WORK/last.log" | head -40
  fi

  # a run stopped on w2 after its drain (the note is there, the kubelet is down): the next run finishes it
  ssh_host w2 -- 'echo v1.35.1 > /var/lib/kubelet/groundwork-upgrade-drained && systemctl stop kubelet'
  t=$SECONDS
  if play playbooks/upgrade.yml -e "@$WORK/upgrade-vars.yml" -e upgrade_backup=false; then
    mark "upgrade-resume" "$t"
    check "a stopped node is finished on the next run: kubelet restarted, Ready, uncordoned, note gone" \
      [ "$(task_hosts 'Restart the kubelet' "$WORK/last.log")|$(task_hosts 'Uncordon the node' "$WORK/last.log")|$(node_state w2)" = "w2 |w2 |Kubernetes $UPGRADE_TO:$UPGRADE_TO node:active:no-note" ]
  else
    fail "upgrade.yml after a stopped run"; grep -A20 'fatal:' "$WORK/last.log" | head -40
  fi

  # the inventory still at the old version: the binaries role must not put the old kubelet back
  printf '%s\n' '- name: The binaries role with the old version on an upgraded node' '  hosts: w1' '  become: true' \
    '  roles: [groundwork.k8s.kubernetes_binaries]' > "$WORK/old-binaries.yml"
  play "$WORK/old-binaries.yml"
  check "old binaries refused on an upgraded node, saying what to set" \
    grep -q "w1 was upgraded to $UPGRADE_TO .*set groundwork_kubernetes_version" <(tr '\n' ' ' < "$WORK/last.log")
  check "w1 kept kubelet $UPGRADE_TO" [ "$(ssh_host w1 -- /usr/local/bin/kubelet --version)" = "Kubernetes $UPGRADE_TO" ]
}

# Single host (part "single"; GW_UPGRADE_SINGLE=0 skips it): no drain (the workloads have nowhere to
# go), apply on the only node, a second run changes nothing.
upgrade_single() {
  local t=$SECONDS
  stage_upgrade || { fail "staging the $UPGRADE_TO doubles"; return; }
  if play playbooks/upgrade.yml -e "@$WORK/upgrade-vars.yml" -e upgrade_backup=false; then
    mark "single-upgrade" "$t"
  else
    fail "upgrade.yml (single)"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -60; return
  fi
  check "single: cp1 runs $UPGRADE_TO, kubelet recorded (apply)" \
    [ "$(manifest_tags cp1)|$(node_state cp1)" = "$UPGRADE_TO $UPGRADE_TO $UPGRADE_TO|Kubernetes $UPGRADE_TO:$UPGRADE_TO apply:active:no-note" ]
  check "single: not drained (nowhere to go), kubelet restarted" \
    [ "$(task_hosts 'Drain the node' "$WORK/last.log")|$(task_hosts 'Restart the kubelet' "$WORK/last.log")" = "|cp1 " ]
  check "single: Ready after the upgrade" [ "$(ready_nodes cp1)" = "cp1" ]
  t=$SECONDS
  if play playbooks/upgrade.yml -e "@$WORK/upgrade-vars.yml" -e upgrade_backup=false; then
    mark "single-upgrade-rerun" "$t"
    check "single: upgrade second run changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]
  else
    fail "upgrade.yml second run (single)"
  fi
}
