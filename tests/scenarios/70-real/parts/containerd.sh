#!/usr/bin/env bash
# Part containerd (issue 18, "containerd 1.6 -> 2.x with running pods"; GW_SCENARIO_PARTS=ha,containerd or
# single,containerd): the site receives a newer containerd (Debian sid's 2.x binaries in the upstream layout,
# containerd_media.py), regenerates its manifest, rebuilds and serves the bundle, and runs
# playbooks/upgrade_containerd.yml with pods running (a Deployment, the DaemonSet kube-proxy, the static control
# plane pods) and an API probe loop (ha: through w1's endpoint; single: cp1's own API server), failures counted.
# Checked: site.yml with the new manifest refuses to replace containerd on a cluster node; the check refuses before any change while a node is not Ready (ha: w2's kubelet stopped); every node
# runs containerd 2.x after (`containerd --version`, the daemon's `ctr version`, the kubelet's
# containerRuntimeVersion), config.toml is schema 3 as containerd reads it (`containerd config dump`: pinned
# sandbox image, config_path, restrict_oom_score_adj, SystemdCgroup), /etc/containerd kept per node; every
# Node Ready and schedulable; the Deployment available again, kube-proxy ready on every node, the control plane
# pods Running; an image removed from a node is pulled again through hosts.toml from the mirror by containerd
# 2.x; a re-run changed=0; site.yml with the new manifest changed=0.
# shellcheck disable=SC2154  # WORK, CLUSTER, LAB, NAME, ART, BUNDLE, RWORK, ROOT: set by run.sh
ctd_nodes() { if [ "$CLUSTER" = ha ]; then echo "cp1 cp2 cp3 w1 w2"; else echo cp1; fi; }
ctd_probe_host() { if [ "$CLUSTER" = ha ]; then echo w1; else echo cp1; fi; }
ctd_probe_start() {
  local h; h=$(ctd_probe_host)
  # shellcheck disable=SC2016  # expands on the host
  ssh_host "$h" -- 'rm -f /root/ctd-probe.stop /root/ctd-probe.out; nohup sh -c '"'"'n=0; f=0; while [ ! -e /root/ctd-probe.stop ]; do
      n=$((n + 1)); kubectl --kubeconfig /etc/kubernetes/kubelet.conf --request-timeout=3s get --raw /api/v1/nodes/'"$h"' >/dev/null 2>&1 || f=$((f + 1))
      echo "$n $f" > /root/ctd-probe.out; sleep 0.5; done'"'"' >/dev/null 2>&1 &'
}
ctd_probe_stop() { ssh_host "$(ctd_probe_host)" -- 'touch /root/ctd-probe.stop; sleep 1; cat /root/ctd-probe.out'; }
ctd_versions() { # -> "host=version ..." of `containerd --version` (the binary)
  local h; for h in $(ctd_nodes); do printf '%s=%s ' "$h" "$(ssh_host "$h" -- containerd --version | awk '{print $3}')"; done
}
ctd_runtime_versions() { kc cp1 get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.status.nodeInfo.containerRuntimeVersion} {end}'; }
ctd_ready_all() { [ "$(ready_nodes cp1)" = "$(ctd_nodes)" ]; }
ctd_proxy_ready() { [ "$(kc cp1 -n kube-system get ds kube-proxy -o jsonpath='{.status.numberReady}')" = "$(ctd_nodes | wc -w)" ]; }
ctd_static_running() { # every control plane's static pods Running
  local n; n=$(kc cp1 -n kube-system get pods -l tier=control-plane -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' | grep -c Running)
  [ "$n" -ge $(( 4 * $(ctd_nodes | tr ' ' '\n' | grep -c '^cp') )) ]
}

ctd_media() { # the site's new artifacts dir, bundle and mirror: ART, BUNDLE changed for the rest of the run
  local tag out art2 dir rc
  tag=$(basename "$(dirname "$ART")")
  dir=$RWORK/$tag-containerd2
  art2=$dir/art
  mkdir -p "$dir"
  exec 8>"$RWORK/.build.lock" && flock 8
  out=$("$ROOT/.venv/bin/python" "$HERE/parts/containerd_media.py" "$ART" "$art2") || { exec 8>&-; return 1; }
  log "containerd: $out"
  CTD_FROM=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["containerd_before"])' "$out")
  CTD_TO=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["containerd"])' "$out")
  # the bundle of the same media (copied: only the new containerd is added by the build)
  if [ ! -d "$dir/bundle" ]; then
    if ! cp -a "$(dirname "$BUNDLE")/bundle" "$dir/bundle" || ! cp -a "$(dirname "$BUNDLE")/bundle.state" "$dir/bundle.state"; then
      exec 8>&-; return 1
    fi
  fi
  mirror_build "$art2" "$dir" "$dir/groundwork-bundle.tar"
  rc=$?
  exec 8>&-
  [ $rc -eq 0 ] || { tail -30 "$dir/build.log"; return 1; }
  log "containerd: bundle with containerd $CTD_TO: $(grep -o 'copied [0-9]*, already present [0-9]*' "$dir/build.log" | tail -1)"
  ART=$art2
  BUNDLE=$dir/groundwork-bundle.tar
}

part_containerd() {
  local t p h v n before img bb
  before=$(ctd_versions)
  log "containerd: before: $before"
  # pods running before: a Deployment spread over the nodes that take workloads
  bb=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("busybox", ""))' "$MEDIA_INFO")
  kc cp1 create deployment ctd --image="$bb" --replicas=2 -- sleep 36000 >/dev/null
  check "containerd: Deployment ctd 2/2 available before" wait_for 180 deploy_available ctd 2
  log "containerd: ctd pods before: $(kc cp1 get pods -l app=ctd -o jsonpath='{range .items[*]}{.metadata.name}@{.spec.nodeName} {end}')"

  t=$SECONDS
  ctd_media || { fail "containerd: the new containerd's artifacts and bundle"; return 1; }
  serve_mirror || { fail "containerd: serving the new bundle"; return 1; }
  write_real_vars
  mark "containerd-bundle+serve" "$t"

  # nothing upgrades behind the cluster's back: site.yml with the new manifest refuses before replacing containerd
  # (GW_CTD_SITE_REFUSED=0 skips this site.yml run, for time)
  if [ "${GW_CTD_SITE_REFUSED:-1}" = 1 ]; then
    t=$SECONDS
    play site.yml
    mark "containerd-site-refused" "$t"
    check "containerd: site.yml with the new manifest refused (containerd of a node in the cluster)" \
      grep -q "this run would install containerd $CTD_TO" "$WORK/last.log"
    check "containerd: ... no containerd replaced by it" [ "$(ctd_versions)" = "$before" ]
  fi

  if [ "$CLUSTER" = ha ]; then
    # a node not Ready: refused before any change
    ssh_host w2 -- systemctl stop kubelet
    kc cp1 get node w2 >/dev/null
    wait_for 120 bash -c "! $LAB ssh --name $NAME cp1 -- kubectl --kubeconfig /etc/kubernetes/admin.conf get node w2 | grep -qw Ready"
    play playbooks/upgrade_containerd.yml
    check "containerd: refused while w2 is not Ready" grep -q "upgrade_containerd.yml refused before any change: .*w2 is not Ready" "$WORK/last.log"
    check "containerd: ... nothing changed (containerd versions as before)" [ "$(ctd_versions)" = "$before" ]
    ssh_host w2 -- systemctl start kubelet
    check "containerd: w2 Ready again" wait_for 180 ctd_ready_all
  fi

  ctd_probe_start
  t=$SECONDS
  if play playbooks/upgrade_containerd.yml; then log "containerd: upgrade_containerd.yml ok ($(( SECONDS - t ))s)"; else
    fail "containerd: upgrade_containerd.yml failed"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -80; fi
  mark "containerd-upgrade" "$t"
  p=$(ctd_probe_stop)
  log "containerd: API probe from $(ctd_probe_host) during the upgrade: ${p% *} requests, ${p#* } failed"
  log "containerd: plan: $(grep -o 'containerd [0-9.]* on [^"]*' "$WORK/last.log" | head -1)"
  cp "$WORK/last.log" "$WORK/containerd-upgrade.log"
  [ "$CLUSTER" != ha ] || check "containerd: a verified etcd backup was taken first" grep -q "Backup by " "$WORK/last.log"

  v=$(ctd_versions)
  log "containerd: after: $v"
  for h in $(ctd_nodes); do
    check "containerd: $h's binary is $CTD_TO" grep -q "$h=$CTD_TO" <<<"$v"
    n=$(ssh_host "$h" -- ctr version | sed -n '/Server:/,$p' | awk '/Version:/ {print $2}')
    check "containerd: $h's daemon runs $CTD_TO (ctr version: ${n:-none})" [ "${n%%+*}" = "$CTD_TO" ]
    ssh_host "$h" -- containerd config dump > "$WORK/ctd-dump-$h.toml" 2>/dev/null
    check "containerd: $h's config as containerd reads it: version 3, pinned sandbox, certs.d, restrict_oom_score_adj, SystemdCgroup false, CNI bin dirs" \
      python3 - "$WORK/ctd-dump-$h.toml" <<'PY'
import sys, tomllib
c = tomllib.load(open(sys.argv[1], "rb"))
p = c["plugins"]
img, rt = p["io.containerd.cri.v1.images"], p["io.containerd.cri.v1.runtime"]
ok = (c["version"] == 3 and img["pinned_images"]["sandbox"].startswith("registry.k8s.io/pause:")
      and img["registry"]["config_path"] == "/etc/containerd/certs.d" and rt["restrict_oom_score_adj"] is True
      and rt["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False
      and "/opt/cni/bin" in (rt["cni"].get("bin_dirs") or []) and not rt["cni"].get("bin_dir"))  # 2.1: no deprecated bin_dir
print("   ", c["version"], img["pinned_images"], img["registry"]["config_path"], rt["restrict_oom_score_adj"],
      rt["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"], rt["cni"].get("bin_dirs"), rt["cni"].get("bin_dir"))
sys.exit(0 if ok else 1)
PY
    check "containerd: $h kept /etc/containerd of $CTD_FROM" ssh_host "$h" -- test -s "/var/backups/groundwork/containerd/$CTD_FROM/config.toml"
  done
  v=$(ctd_runtime_versions)
  log "containerd: kubelets report: $v"
  check "containerd: every kubelet reports containerd://$CTD_TO" [ "$(tr ' ' '\n' <<<"$v" | grep -c "=containerd://$CTD_TO")" = "$(ctd_nodes | wc -w)" ]
  check "containerd: every Node Ready" wait_for 180 ctd_ready_all
  check "containerd: no Node left unschedulable" [ -z "$(kc cp1 get nodes -o jsonpath='{.items[?(@.spec.unschedulable==true)].metadata.name}')" ]
  check "containerd: Deployment ctd 2/2 available after" wait_for 180 deploy_available ctd 2
  log "containerd: ctd pods after: $(kc cp1 get pods -l app=ctd -o jsonpath='{range .items[*]}{.metadata.name}@{.spec.nodeName}:{.status.phase} {end}')"
  check "containerd: kube-proxy ready on every node" wait_for 180 ctd_proxy_ready
  check "containerd: the control plane pods Running" wait_for 180 ctd_static_running
  kc cp1 -n kube-system get pods -o wide | sed 's/^/    /'

  # an image the node no longer has is pulled again by containerd 2.x through hosts.toml from the mirror
  h=$(ctd_nodes | awk '{print $NF}')
  img=$bb
  kc cp1 scale deployment ctd --replicas=0 >/dev/null
  wait_for 120 bash -c "[ -z \"\$($LAB ssh --name $NAME cp1 -- kubectl --kubeconfig /etc/kubernetes/admin.conf get pods -l app=ctd -o name)\" ]"
  ssh_host "$h" -- ctr -n k8s.io images rm "$img" >/dev/null 2>&1
  check "containerd: $img removed from $h" bash -c "! $LAB ssh --name $NAME $h -- ctr -n k8s.io images ls -q | grep -qx '$img'"
  kc cp1 run ctd-pull --image="$img" --image-pull-policy=Always --restart=Never --overrides="{\"spec\":{\"nodeName\":\"$h\"}}" -- sleep 3600 >/dev/null
  check "containerd: a pod on $h pulls $img again from the mirror (hosts.toml) and runs" wait_for 180 pods_running ctd-pull
  log "containerd: pull events: $(kc cp1 get events --field-selector involvedObject.name=ctd-pull -o jsonpath='{range .items[*]}{.reason}: {.message} | {end}' | cut -c1-400)"
  kc cp1 delete pod ctd-pull --wait=false >/dev/null 2>&1
  kc cp1 delete deployment ctd --wait=false >/dev/null 2>&1

  t=$SECONDS
  if play playbooks/upgrade_containerd.yml; then
    mark "containerd-rerun" "$t"
    check "containerd: a second upgrade_containerd.yml changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]
    [ "$(changed_sum)" -eq 0 ] || grep -B3 '^changed:' "$WORK/last.log" | head -40
  else fail "containerd: second run failed"; grep -A20 'fatal:' "$WORK/last.log" | head -40; fi
  # GW_CTD_SITE_RERUN=0 skips site.yml after the upgrade (for time)
  t=$SECONDS
  if [ "${GW_CTD_SITE_RERUN:-1}" != 1 ]; then log "containerd: site.yml after the upgrade skipped (GW_CTD_SITE_RERUN=0)"
  elif play site.yml; then
    mark "containerd-site-rerun" "$t"
    check "containerd: site.yml with the new manifest changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]
    [ "$(changed_sum)" -eq 0 ] || grep -B3 '^changed:' "$WORK/last.log" | head -40
  else fail "containerd: site.yml after the upgrade failed"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -40; fi
  log "containerd: $CTD_FROM -> $CTD_TO on $(ctd_nodes | wc -w) node(s); API probe ${p% *} requests, ${p#* } failed"
}
