# shellcheck shell=bash
# Part day2 (issue 18, docs/day2.md), on the real cluster that is up (ha: cp1-3 + w1,w2; single: cp1):
#   1. version guard: groundwork_kubernetes_version set to a version the cluster does not run (the artifact check
#      off, so the guard itself is what refuses): site.yml fails in preflight, naming upgrade.yml; /usr/local/bin/kubelet
#      and kubeadm unchanged (sha256 + mtime) on every node
#   2. the inventory changes an API server flag (audit-log-maxage 30 -> 7), kubelet maxPods (-> 150) and kube-proxy's
#      iptables.syncPeriod (-> 45s): site.yml --check --diff shows the new flag in each control plane's manifest diff
#      and changes nothing; site.yml applies it one control plane at a time (reconfigure -> new pod Ready -> next,
#      read from the run's log) while the API probe (ha: w1 through its endpoint) counts failed requests; the flag in
#      every kube-apiserver manifest and in the running pods, pods capacity 150 on every Node, the kubeadm-config,
#      kubelet-config and kube-proxy ConfigMaps updated; the next site.yml changed=0
# Runs site.yml three to four times: ~6 min on single, ~15 min on ha (loaded 2-CPU machine).
day2_cps() { if [ "$CLUSTER" = ha ]; then echo cp1 cp2 cp3; else echo cp1; fi; }
day2_nodes() { if [ "$CLUSTER" = ha ]; then echo cp1 cp2 cp3 w1 w2; else echo cp1; fi; }
day2_bins() { # host -> "sha256 mtime" of kubelet and kubeadm
  # shellcheck disable=SC2016  # expanded on the host, not here
  ssh_host "$1" -- 'for b in /usr/local/bin/kubelet /usr/local/bin/kubeadm; do echo "$(sha256sum < $b | cut -c1-16) $(stat -c %Y $b)"; done' | tr '\n' ' '
}

part_day2() {
  local t h before after p n other rc
  # ---- 1. version guard
  other=$(python3 -c 'import sys; M, m, p = sys.argv[1].lstrip("v").split("."); print("v%s.%d.0" % (M, int(m) + 1))' "$KUBE_VERSION")
  before=$(for h in $(day2_nodes); do echo "$h $(day2_bins "$h")"; done)
  t=$SECONDS
  play site.yml -e "groundwork_kubernetes_version=$other" -e preflight_check_artifacts=false; rc=$?
  mark "day2-guard-refused" "$t"
  check "day2: site.yml with $other in the inventory (cluster runs $KUBE_VERSION) refused (rc $rc)" [ "$rc" -ne 0 ]
  log "day2: refusal: $(grep -o "groundwork_kubernetes_version is $other but the cluster runs[^\"]*" "$WORK/last.log" | head -1 | cut -c1-330)"
  check "day2: the refusal names the running version and upgrade.yml" \
    grep -q "groundwork_kubernetes_version is $other but the cluster runs $KUBE_VERSION.*playbooks/upgrade.yml" "$WORK/last.log"
  check "day2: refused in preflight (no host changed)" grep -q "no host was changed" "$WORK/last.log"
  after=$(for h in $(day2_nodes); do echo "$h $(day2_bins "$h")"; done)
  check "day2: kubelet and kubeadm binaries unchanged on every node (sha256, mtime)" [ "$before" = "$after" ]

  # ---- 2. convergence of a changed configuration
  cat > "$WORK/day2.yml" <<EOF
control_plane_apiserver_extra_args: {audit-log-maxage: "7"}
control_plane_kubelet_config: {cgroupDriver: cgroupfs, oomScoreAdj: 0, evictionHard: {memory.available: 100Mi, nodefs.available: 1%, nodefs.inodesFree: 1%, imagefs.available: 1%}, maxPods: 150}
control_plane_kube_proxy_config: {conntrack: {maxPerCore: 0}, iptables: {syncPeriod: 45s}}
EOF
  t=$SECONDS
  if play site.yml -e "@$WORK/day2.yml" --check --diff; then
    mark "day2-check-diff" "$t"
    n=$(grep -c '^+    - --audit-log-maxage=7' "$WORK/last.log")
    check "day2: --check --diff shows the new flag in each control plane's manifest diff ($n)" [ "$n" -eq "$(day2_cps | wc -w)" ]
    n=$(grep -c '^+maxPods: 150' "$WORK/last.log")
    check "day2: --check --diff shows maxPods in each node's kubelet config diff ($n)" [ "$n" -ge "$(day2_nodes | wc -w)" ]
    check "day2: --check changed no manifest" bash -c "! $LAB ssh --name $NAME cp1 -- grep -q -- --audit-log-maxage=7 /etc/kubernetes/manifests/kube-apiserver.yaml"
  else fail "day2: site.yml --check --diff failed"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -60; fi

  [ "$CLUSTER" = ha ] && probe_start
  t=$SECONDS
  if play site.yml -e "@$WORK/day2.yml"; then log "day2: site.yml with the changes ok ($(( SECONDS - t ))s)"; else
    fail "day2: site.yml with the changes failed"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -80; fi
  mark "day2-converge" "$t"
  cp "$WORK/last.log" "$WORK/day2-converge.log"
  if [ "$CLUSTER" = ha ]; then
    p=$(probe_stop)
    log "day2: API probe through w1's endpoint during the convergence: ${p% *} requests, ${p#* } failed"
    PROBE_DAY2=$p
  fi
  # one control plane at a time: each one's manifests are rewritten only after the previous one's new pods are Ready
  local order
  order=$(awk '/^TASK \[.*Static pod manifests and kubelet configuration follow/ { s = "R" } /^TASK \[.*Wait for each replaced static pod/ { s = "W" }
               /^TASK / && !/Static pod manifests and kubelet|Wait for each replaced/ { s = "" }
               s != "" && /^(changed|ok): \[cp[0-9]/ { match($0, /cp[0-9]/); print s substr($0, RSTART, 3) }' "$WORK/last.log" | uniq | tr '\n' ' ')
  log "day2: order of (R)ewrite and (W)ait-for-Ready on the control planes: $order"
  local want=""; for h in $(day2_cps); do want="${want}R$h W$h "; done
  check "day2: one control plane at a time (rewrite, Ready, next)" [ "$order" = "$want" ]
  for h in $(day2_cps); do
    check "day2: $h's kube-apiserver manifest has --audit-log-maxage=7" \
      ssh_host "$h" -- grep -q -- --audit-log-maxage=7 /etc/kubernetes/manifests/kube-apiserver.yaml
    check "day2: $h's running kube-apiserver has --audit-log-maxage=7" \
      bash -c "$LAB ssh --name $NAME cp1 -- kubectl --kubeconfig /etc/kubernetes/admin.conf -n kube-system get pod kube-apiserver-$h -o jsonpath='{.spec.containers[0].command}' | grep -q audit-log-maxage=7"
  done
  n=$(kc cp1 get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.status.capacity.pods} {end}')
  log "day2: pods capacity per Node: $n"
  local expect=""; for h in $(day2_nodes); do expect="$expect$h=150 "; done
  check "day2: maxPods 150 in every Node's capacity" [ "$n" = "$expect" ]
  check "day2: kubelet-config ConfigMap has maxPods: 150" bash -c "$LAB ssh --name $NAME cp1 -- kubectl --kubeconfig /etc/kubernetes/admin.conf -n kube-system get cm kubelet-config -o jsonpath='{.data.kubelet}' | grep -q 'maxPods: 150'"
  check "day2: kubeadm-config ConfigMap has audit-log-maxage 7" bash -c "$LAB ssh --name $NAME cp1 -- kubectl --kubeconfig /etc/kubernetes/admin.conf -n kube-system get cm kubeadm-config -o jsonpath='{.data.ClusterConfiguration}' | grep -A1 'name: audit-log-maxage' | grep -q '\"7\"'"
  check "day2: kube-proxy ConfigMap has syncPeriod 45s" bash -c "$LAB ssh --name $NAME cp1 -- kubectl --kubeconfig /etc/kubernetes/admin.conf -n kube-system get cm kube-proxy -o yaml | grep -q ' syncPeriod: 45s'"
  check "day2: every Node Ready after the convergence" wait_for 120 all_ready "$(day2_nodes)"
  t=$SECONDS
  if play site.yml -e "@$WORK/day2.yml"; then
    mark "day2-rerun" "$t"
    check "day2: the next site.yml changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]
    [ "$(changed_sum)" -eq 0 ] || grep -B3 '^changed:' "$WORK/last.log" | head -40
  else fail "day2: re-run failed"; grep -A20 'fatal:' "$WORK/last.log" | head -40; fi
  [ -z "${PROBE_DAY2:-}" ] || log "day2: API probe during the convergence (requests failed): $PROBE_DAY2"
}
