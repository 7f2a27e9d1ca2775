#!/usr/bin/env bash
# Test helper (fault scenario): an etcd quorum and write probe, once a second, until DIR/stop exists.
#   fault-probe.sh DIR IP...      (run where the members' client port is reachable: the lab's controller namespace)
# Each second: GET /health on every member (counted healthy when it answers {"health":"true"}: it has a leader)
# and one PUT through the v3 JSON gateway, tried on each member in turn until one takes it (a client with every
# endpoint). The client certificate is read from DIR/client.crt, DIR/client.key at every try, so the scenario can
# refresh it (a CA rotation reissues it). Writes "ticks failed_writes no_quorum_ticks min_healthy" to DIR/etcd.out
# after every tick, and the seconds of a failed write or of fewer than a majority healthy to DIR/etcd.events.
# GW_PROBE_ETCDCTL=PATH writes with that etcdctl (put, 2 s timeouts) instead of the JSON gateway: etcd 3.4 started
# from a config file has the gateway off (enable-grpc-gateway is false unless the file says true: /v3/kv/put 404).
set -u
dir=$1; shift
n=0; wf=0; nq=0; minh=$#; maj=$(( $# / 2 + 1 ))
key=$(printf gw-fault-probe | base64)
while [ ! -e "$dir/stop" ]; do
  n=$((n + 1)); h=0; ok=0
  for ip in "$@"; do
    curl -sk --max-time 2 --cert "$dir/client.crt" --key "$dir/client.key" "https://$ip:2379/health" 2>/dev/null \
      | grep -q '"health":"true"' && h=$((h + 1))
  done
  val=$(printf '%s' "$n" | base64)
  for ip in "$@"; do
    if [ -n "${GW_PROBE_ETCDCTL:-}" ]; then
      ETCDCTL_API=3 "$GW_PROBE_ETCDCTL" --endpoints "https://$ip:2379" --insecure-skip-tls-verify --cert "$dir/client.crt" \
        --key "$dir/client.key" --dial-timeout 2s --command-timeout 2s put gw-fault-probe "$n" >/dev/null 2>&1 && { ok=1; break; }
    elif curl -sk --max-time 2 --cert "$dir/client.crt" --key "$dir/client.key" -X POST "https://$ip:2379/v3/kv/put" \
        -d "{\"key\":\"$key\",\"value\":\"$val\"}" 2>/dev/null | grep -q '"revision"'; then ok=1; break; fi
  done
  [ "$ok" = 1 ] || { wf=$((wf + 1)); echo "$(date -u +%T) write failed" >> "$dir/etcd.events"; }
  [ "$h" -ge "$maj" ] || { nq=$((nq + 1)); echo "$(date -u +%T) healthy $h of $#" >> "$dir/etcd.events"; }
  [ "$h" -ge "$minh" ] || minh=$h
  echo "$n $wf $nq $minh" > "$dir/etcd.out"
  sleep 1
done
