# shellcheck shell=bash
# Runs on a lab host (bash -s): ADD the node's bridge CNI config for a fresh network namespace
# through the real plugins, ping the gateway from inside, then DEL. Prints "ADDRESS ping-ok".
set -euo pipefail
ns=gwcnicheck
conf=$(python3 -c '
import json
c = json.load(open("/etc/cni/net.d/10-groundwork-bridge.conflist"))
p = c["plugins"][0]
p.update(cniVersion=c["cniVersion"], name=c["name"])
print(json.dumps(p))')
cni() { echo "$conf" | CNI_COMMAND=$1 CNI_CONTAINERID=$ns CNI_NETNS=/run/netns/$ns CNI_IFNAME=eth0 \
  CNI_PATH=/opt/cni/bin /opt/cni/bin/bridge; }
ip netns del "$ns" 2>/dev/null || true
ip netns add "$ns"
trap 'cni DEL >/dev/null 2>&1 || true; ip netns del "$ns" 2>/dev/null || true' EXIT
result=$(cni ADD)
addr=$(echo "$result" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ips"][0]["address"])')
gw=$(echo "$result" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ips"][0]["gateway"])')
ip netns exec "$ns" ping -c 1 -W 2 "$gw" >/dev/null
echo "$addr ping-ok"
