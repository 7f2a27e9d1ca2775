# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""Inventory topology validation and planning (pure functions, no Ansible imports).

``check(groups, hostvars)`` reads the inventory model the way the roles will use it and
returns ``{"errors": [...], "warnings": [...], "plan": {...}}``. Every error names what is
wrong *and* what to change. Nothing here touches a host.
"""

from __future__ import annotations

import difflib
import ipaddress
import re

KNOWN_GROUPS = ("kube_control_plane", "kube_node", "etcd", "mirror", "backup")
IMPLICIT_GROUPS = ("all", "ungrouped")
CLUSTER_GROUPS = ("kube_control_plane", "kube_node", "etcd")

# Kubernetes minors this collection is written and tested for (kubeadm v1beta4 configs).
SUPPORTED_MINORS = (33, 34, 35)
ENDPOINT_MODES = ("none", "haproxy", "keepalived_haproxy", "kube_vip", "external")
ETCD_MODES = ("stacked", "external")
API_PORT = 6443

# Contract defaults (CONTRIBUTING.md); inventory values override them.
DEFAULTS = {
    "groundwork_kubernetes_version": "v1.35.0",
    "groundwork_cluster_name": "kubernetes",
    "groundwork_control_plane_endpoint": "",
    "groundwork_api_endpoint_mode": "none",
    "groundwork_etcd_mode": "",
    "groundwork_service_subnet": "10.96.0.0/12",
    "groundwork_pod_subnet": "10.244.0.0/16",
    "groundwork_mirror_url": "",
    "groundwork_registry_mirror": "",
    "groundwork_apt_repo_url": "",
    "groundwork_apt_repo_key": "",
    "groundwork_allow_single_etcd": False,
    "groundwork_allow_even_control_planes": False,
    "groundwork_extra_groups": [],
    "api_endpoint_haproxy_port": 8443,
    "api_endpoint_vip": "",
}

# Settings that describe the cluster as a whole: they must be the same on every cluster host,
# otherwise two hosts would render two different clusters.
CLUSTER_WIDE = (
    "groundwork_kubernetes_version",
    "groundwork_cluster_name",
    "groundwork_control_plane_endpoint",
    "groundwork_api_endpoint_mode",
    "groundwork_etcd_mode",
    "groundwork_service_subnet",
    "groundwork_pod_subnet",
    "groundwork_registry_mirror",
    "groundwork_mirror_url",
    "api_endpoint_haproxy_port",
    "api_endpoint_vip",
)

_VERSION_RE = re.compile(r"^v(\d+)\.(\d+)\.(\d+)(?:-((?:alpha|beta|rc)\.\d+))?$")
# A Kubernetes node name is a DNS-1123 subdomain: lower case, digits, '-' and '.'.
_NODE_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _get(hv, key, default=None):
    """Read one variable of one host; hostvars objects and plain dicts both work."""
    try:
        value = hv.get(key, default) if hv is not None else default
    except Exception:  # pylint: disable=broad-except  # undefined/unresolvable -> default
        value = default
    if value is None:
        return default
    return value


def _hostvars_for(hostvars, host):
    try:
        return hostvars[host]
    except (KeyError, TypeError):
        return {}


def _members(groups, name):
    return list((groups or {}).get(name) or [])


def _split_hostport(value):
    """``host:port`` / ``[v6]:port`` / ``host`` -> (host, port or None)."""
    value = str(value).strip()
    if value.startswith("["):
        host, _sep, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif value.count(":") == 1:
        host, port = value.split(":")
    else:
        host, port = value, None
    if port is not None:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("port %r is not a number between 1 and 65535" % port)
        port = int(port)
    return host, port


def _as_ip(value):
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        return None


def parse_version(version):
    """``v1.35.0`` -> (1, 35, 0, prerelease or None); None when malformed."""
    m = _VERSION_RE.match(str(version or ""))
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)


def supported_versions_text():
    return "v1.%d.x to v1.%d.x" % (SUPPORTED_MINORS[0], SUPPORTED_MINORS[-1])


def _bool(value):
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


class _Report(object):
    def __init__(self):
        self.errors = []
        self.warnings = []

    def error(self, problem, fix):
        self.errors.append("%s Fix: %s" % (problem, fix))

    def warn(self, text):
        self.warnings.append(text)


def _settings(groups, hostvars):
    """Cluster-wide settings as seen from the first control plane (or the first host)."""
    ref = None
    for name in ("kube_control_plane", "etcd", "kube_node", "all"):
        members = _members(groups, name)
        if members:
            ref = members[0]
            break
    hv = _hostvars_for(hostvars, ref) if ref else {}
    out = {}
    for key, default in DEFAULTS.items():
        out[key] = _get(hv, key, default)
    return ref, out


def _check_groups(groups, settings, rep):
    extra = settings["groundwork_extra_groups"] or []
    if isinstance(extra, str):
        extra = [extra]
    allowed = set(KNOWN_GROUPS) | set(IMPLICIT_GROUPS) | set(extra)
    for group in sorted(groups or {}):
        if group in allowed:
            continue
        hosts = _members(groups, group)
        close = difflib.get_close_matches(group, KNOWN_GROUPS, n=1, cutoff=0.6)
        where = "host(s) %s are" % ", ".join(hosts) if hosts else "no hosts are"
        problem = "Unknown inventory group '%s' (%s in it)." % (group, where)
        if close:
            fix = "rename group '%s' to '%s' (a typo?)." % (group, close[0])
        else:
            fix = ("put the hosts in one of the groups %s, or list '%s' in groundwork_extra_groups "
                   "if it is your own grouping." % (", ".join(KNOWN_GROUPS), group))
        rep.error(problem, fix)


def _check_layout(groups, settings, rep):
    cps = _members(groups, "kube_control_plane")
    workers = _members(groups, "kube_node")
    etcd = _members(groups, "etcd")
    if not cps:
        if workers:
            rep.error(
                "The inventory has workers (kube_node: %s) but no control plane." % ", ".join(workers),
                "add the existing or new control-plane hosts to group 'kube_control_plane' "
                "(its first host initialises the cluster); workers alone cannot form a cluster.")
        else:
            rep.error("Group 'kube_control_plane' is empty or missing.",
                      "add at least one host to 'kube_control_plane' (the first one initialises the cluster).")

    mode = settings["groundwork_etcd_mode"] or ("external" if etcd else "stacked")
    if mode not in ETCD_MODES:
        rep.error("groundwork_etcd_mode is '%s'." % mode,
                  "set groundwork_etcd_mode to 'stacked' or 'external', or leave it unset "
                  "(it follows group 'etcd').")
        mode = "external" if etcd else "stacked"
    if mode == "external" and not etcd:
        rep.error("groundwork_etcd_mode is 'external' but group 'etcd' is empty.",
                  "add 3 (or 5, 7) hosts to group 'etcd', or set groundwork_etcd_mode to 'stacked'.")
    if mode == "stacked" and etcd:
        rep.error("groundwork_etcd_mode is 'stacked' but group 'etcd' has hosts (%s)." % ", ".join(etcd),
                  "empty group 'etcd' for stacked etcd, or set groundwork_etcd_mode to 'external'.")

    allow_single = _bool(settings["groundwork_allow_single_etcd"])
    allow_even = _bool(settings["groundwork_allow_even_control_planes"])
    if mode == "external" and etcd:
        n = len(etcd)
        if n == 1 and not allow_single:
            rep.error("Group 'etcd' has 1 member: it has no redundancy; losing it loses the cluster.",
                      "add hosts to make 3 (or 5, 7) etcd members, or set groundwork_allow_single_etcd: true "
                      "to accept a single member.")
        elif n % 2 == 0:
            rep.error(
                "Group 'etcd' has %d members, an even count: it tolerates no more failures than %d members "
                "(quorum %d of %d) and splits evenly on a partition." % (n, n - 1, n // 2 + 1, n),
                "use an odd number of etcd hosts: remove one (%d) or add one (%d)." % (n - 1, n + 1))
        elif n > 7:
            rep.error("Group 'etcd' has %d members; every write waits for a majority, so more than 7 "
                      "slows the cluster without useful gain." % n,
                      "use 3, 5 or 7 etcd members.")
    if mode == "stacked" and cps:
        n = len(cps)
        if n > 7:
            rep.error("%d control planes with stacked etcd make a %d-member etcd; every write waits for a "
                      "majority." % (n, n),
                      "use 3, 5 or 7 control planes, or external etcd.")
        elif n == 2 and not allow_even:
            rep.error(
                "2 control planes with stacked etcd form a 2-member etcd: quorum is 2, so losing either "
                "host stops the cluster (worse than 1).",
                "use 1 or 3 control planes, or external etcd with 3 members; set "
                "groundwork_allow_even_control_planes: true only to accept this knowingly.")
        elif n % 2 == 0 and n > 2:
            rep.warn(
                "%d control planes with stacked etcd tolerate %d failure(s), the same as %d; "
                "the extra member adds load, not safety. Consider %d or %d."
                % (n, (n - 1) // 2, n - 1, n - 1, n + 1))
    return mode


def _check_hosts(groups, hostvars, rep):
    """Unique node names and addresses over every host the cluster uses."""
    hosts = []
    for g in CLUSTER_GROUPS + ("mirror", "backup"):
        for h in _members(groups, g):
            if h not in hosts:
                hosts.append(h)
    names = {}
    addrs = {}
    info = {}
    for h in hosts:
        hv = _hostvars_for(hostvars, h)
        # what the kubeadm roles use: the inventory name is the node name, ansible_host the address
        name = str(h)
        addr = str(_get(hv, "ansible_host", h))
        info[h] = {"node_name": name, "address": addr}
        in_cluster = any(h in _members(groups, g) for g in ("kube_control_plane", "kube_node"))
        if in_cluster:
            if not _NODE_NAME_RE.match(name) or len(name) > 253:
                rep.error("Host '%s' would register as Kubernetes node '%s', which is not a valid node name."
                          % (h, name),
                          "rename inventory host '%s' to lower-case letters, digits, '-' and '.'." % h)
            names.setdefault(name.lower(), []).append(h)
        ip = _as_ip(addr)
        key = str(ip) if ip else addr.lower()
        addrs.setdefault(key, []).append(h)
    for name, owners in sorted(names.items()):
        if len(owners) > 1:
            rep.error("Hosts %s would all register as node '%s'." % (", ".join(owners), name),
                      "give each host its own inventory name.")
    for addr, owners in sorted(addrs.items()):
        if len(owners) > 1:
            rep.error("Hosts %s share the address %s." % (", ".join(owners), addr),
                      "give each host its own ansible_host; "
                      "list a machine once and put it in several groups instead of twice.")
    return info


def _check_version(settings, rep):
    version = str(settings["groundwork_kubernetes_version"])
    parsed = parse_version(version)
    if parsed is None:
        rep.error("groundwork_kubernetes_version '%s' is not a Kubernetes version." % version,
                  "write it as vMAJOR.MINOR.PATCH, e.g. v1.35.0 (supported: %s)." % supported_versions_text())
        return None
    major, minor, _patch, pre = parsed
    if major != 1 or minor not in SUPPORTED_MINORS:
        rep.error("groundwork_kubernetes_version %s is not supported." % version,
                  "choose a version from %s." % supported_versions_text())
    elif pre:
        rep.warn("groundwork_kubernetes_version %s is a pre-release; use it for tests only." % version)
    return version


def _check_subnets(settings, host_info, rep):
    nets = {}
    for key in ("groundwork_service_subnet", "groundwork_pod_subnet"):
        value = settings[key]
        try:
            nets[key] = ipaddress.ip_network(str(value), strict=True)
        except ValueError as exc:
            rep.error("%s '%s' is not a network (%s)." % (key, value, exc),
                      "write it as a CIDR with host bits zero, e.g. %s." % DEFAULTS[key])
    if len(nets) == 2:
        svc, pod = nets["groundwork_service_subnet"], nets["groundwork_pod_subnet"]
        if svc.version == pod.version and svc.overlaps(pod):
            rep.error("groundwork_service_subnet %s overlaps groundwork_pod_subnet %s." % (svc, pod),
                      "choose two subnets that do not overlap.")
    for h, hi in sorted(host_info.items()):
        ip = _as_ip(hi["address"])
        if ip is None:
            continue
        for key, net in sorted(nets.items()):
            if ip.version == net.version and ip in net:
                rep.error("Host '%s' address %s lies inside %s %s." % (h, ip, key, net),
                          "choose a %s that does not contain node addresses." % key)


def _resolve_endpoint(groups, settings, host_info, rep):
    """The control-plane endpoint every node will use, or None when it cannot be decided."""
    cps = _members(groups, "kube_control_plane")
    mode = str(settings["groundwork_api_endpoint_mode"])
    given = str(settings["groundwork_control_plane_endpoint"] or "").strip()
    vip = str(settings["api_endpoint_vip"] or "").strip()
    try:
        hp_port = int(settings["api_endpoint_haproxy_port"])
    except (TypeError, ValueError):
        rep.error("api_endpoint_haproxy_port '%s' is not a port number." % settings["api_endpoint_haproxy_port"],
                  "set api_endpoint_haproxy_port to a free TCP port such as 8443.")
        hp_port = DEFAULTS["api_endpoint_haproxy_port"]
    if mode not in ENDPOINT_MODES:
        rep.error("groundwork_api_endpoint_mode is '%s'." % mode,
                  "choose one of %s." % ", ".join(ENDPOINT_MODES))
        return None
    ha = len(cps) > 1
    if given:
        try:
            host, port = _split_hostport(given)
        except ValueError as exc:
            rep.error("groundwork_control_plane_endpoint '%s' is not host:port (%s)." % (given, exc),
                      "write it as host:port, e.g. api.example.internal:6443.")
            return None
        if port is None:
            port = API_PORT
            given = "%s:%d" % (host, port)
    else:
        host = port = None

    if mode == "none":
        if ha and not given:
            rep.error(
                "%d control planes (HA) but no API endpoint: groundwork_api_endpoint_mode is 'none' and "
                "groundwork_control_plane_endpoint is empty, so every node would depend on the first control plane."
                % len(cps),
                "set groundwork_api_endpoint_mode: haproxy (a local proxy on every node, no extra address), "
                "keepalived_haproxy or kube_vip with api_endpoint_vip, or external with "
                "groundwork_control_plane_endpoint pointing at your load balancer / DNS name.")
            return None
        if given:
            return given
        if cps:
            first = host_info.get(cps[0], {}).get("address", cps[0])
            return "%s:%d" % (("[%s]" % first) if ":" in first else first, API_PORT)
        return None
    if mode == "haproxy":
        if given and (host not in ("localhost", "127.0.0.1", "::1") or port != hp_port):
            rep.error(
                "groundwork_api_endpoint_mode is 'haproxy' (a proxy on 127.0.0.1:%d on every node) but "
                "groundwork_control_plane_endpoint is '%s'." % (hp_port, given),
                "set groundwork_control_plane_endpoint to localhost:%d or leave it empty." % hp_port)
            return None
        return "localhost:%d" % hp_port
    if mode in ("keepalived_haproxy", "kube_vip"):
        port_default = hp_port if mode == "keepalived_haproxy" else API_PORT
        if vip:
            ip = _as_ip(vip)
            if ip is None:
                rep.error("api_endpoint_vip '%s' is not an IP address." % vip,
                          "set api_endpoint_vip to a free address in the control planes' subnet.")
                return None
            owners = [h for h, hi in host_info.items() if _as_ip(hi["address"]) == ip]
            if owners:
                rep.error("api_endpoint_vip %s is already the address of %s." % (vip, ", ".join(owners)),
                          "choose an unused address in the control planes' subnet for api_endpoint_vip.")
                return None
        if not vip:
            rep.error("groundwork_api_endpoint_mode is '%s' but api_endpoint_vip is empty." % mode,
                      "set api_endpoint_vip to a free address in the control planes' subnet "
                      "(groundwork_control_plane_endpoint may then name it through DNS).")
            return None
        if given:
            return given
        return "%s:%d" % (("[%s]" % vip) if ":" in vip else vip, port_default)
    # external
    if not given:
        rep.error("groundwork_api_endpoint_mode is 'external' but groundwork_control_plane_endpoint is empty.",
                  "set groundwork_control_plane_endpoint to the load balancer or DNS name:port "
                  "that forwards to every control plane on port %d." % API_PORT)
        return None
    return given


def _check_consistency(groups, hostvars, settings, rep):
    hosts = []
    for g in CLUSTER_GROUPS:
        for h in _members(groups, g):
            if h not in hosts:
                hosts.append(h)
    for key in CLUSTER_WIDE:
        seen = {}
        for h in hosts:
            value = _get(_hostvars_for(hostvars, h), key, DEFAULTS[key])
            seen.setdefault(str(value), []).append(h)
        if len(seen) > 1:
            detail = "; ".join("%s on %s" % (v or "''", ", ".join(hs)) for v, hs in sorted(seen.items()))
            rep.error("%s differs between hosts (%s)." % (key, detail),
                      "set %s once, in group_vars/all." % key)


def _check_extra_groups(groups, settings, rep):
    mirrors = _members(groups, "mirror")
    if len(mirrors) > 1:
        rep.warn("Group 'mirror' has %d hosts (%s); the roles use the first one."
                 % (len(mirrors), ", ".join(mirrors)))
    if mirrors and not settings["groundwork_mirror_url"]:
        rep.warn("Group 'mirror' has %s but groundwork_mirror_url is empty: nodes will use upstream URLs."
                 % mirrors[0])
    cluster = set(_members(groups, "kube_control_plane")) | set(_members(groups, "kube_node"))
    for h in mirrors:
        if h in cluster:
            rep.warn("Mirror host '%s' is also a cluster node; an outage of the node takes the mirror with it." % h)
    _check_apt_key(settings, rep)
    etcd = set(_members(groups, "etcd"))
    both = sorted(etcd & set(_members(groups, "kube_control_plane")))
    if both:
        rep.warn("Host(s) %s run both a control plane and an external etcd member; "
                 "they share failure and disk I/O." % ", ".join(both))


def _check_apt_key(settings, rep):
    """A site APT repository is used only with its signing key pinned (never trusted=yes)."""
    url = settings.get("groundwork_apt_repo_url") or ""
    key = settings.get("groundwork_apt_repo_key") or ""
    if url and "BEGIN PGP PUBLIC KEY BLOCK" not in str(key):
        rep.error("groundwork_apt_repo_url is set (%s) but groundwork_apt_repo_key is %s: the nodes would "
                  "install packages nobody signed." % (url, "not an armored OpenPGP public key" if key else "empty"),
                  "set groundwork_apt_repo_key to the site APT key the bundle was signed with (the bundle's "
                  "apt/groundwork-apt.asc; mirror.yml build prints its path and fingerprint), e.g. "
                  "groundwork_apt_repo_key: \"{{ lookup('ansible.builtin.file', 'files/groundwork-apt.asc') }}\".")


def _topology_name(cps, workers, etcd_mode):
    if etcd_mode == "external":
        return "external_etcd"
    if len(cps) > 1:
        return "stacked_ha"
    only_workers = [w for w in workers if w not in cps]
    if not only_workers:
        return "single_host"
    if len(only_workers) == 1:
        return "two_hosts"
    return "single_control_plane"


def check(groups, hostvars):
    """Validate the inventory; return ``{"errors", "warnings", "plan"}``."""
    groups = dict(groups or {})
    rep = _Report()
    _ref, settings = _settings(groups, hostvars)
    _check_groups(groups, settings, rep)
    etcd_mode = _check_layout(groups, settings, rep)
    host_info = _check_hosts(groups, hostvars, rep)
    _check_consistency(groups, hostvars, settings, rep)
    version = _check_version(settings, rep)
    _check_subnets(settings, host_info, rep)
    endpoint = _resolve_endpoint(groups, settings, host_info, rep)
    _check_extra_groups(groups, settings, rep)

    cps = _members(groups, "kube_control_plane")
    workers = _members(groups, "kube_node")
    etcd = _members(groups, "etcd") if etcd_mode == "external" else list(cps)
    mode = settings["groundwork_api_endpoint_mode"]
    placement = {}
    all_hosts = []
    for g in KNOWN_GROUPS:
        for h in _members(groups, g):
            if h not in all_hosts:
                all_hosts.append(h)
    for h in all_hosts:
        parts = []
        if h in cps:
            parts.append("control plane (initialises the cluster)" if h == cps[0] else "control plane (joins)")
        if h in workers:
            parts.append("worker")
        if h in etcd:
            parts.append("etcd member (%s)" % etcd_mode)
        if mode == "haproxy" and (h in cps or h in workers):
            parts.append("haproxy on 127.0.0.1:%s" % settings["api_endpoint_haproxy_port"])
        if mode in ("keepalived_haproxy", "kube_vip") and h in cps:
            parts.append("%s for VIP %s" % (mode, settings["api_endpoint_vip"]))
        if h in _members(groups, "mirror"):
            parts.append("site mirror")
        if h in _members(groups, "backup"):
            parts.append("backup target")
        placement[h] = {"roles": parts, "address": host_info.get(h, {}).get("address", h),
                        "node_name": host_info.get(h, {}).get("node_name", h)}
    members = len(etcd)
    plan = {
        "topology": _topology_name(cps, workers, etcd_mode) if cps else None,
        "kubernetes_version": version,
        "etcd_mode": etcd_mode,
        "etcd_members": etcd,
        "etcd_failures_tolerated": (members - 1) // 2 if members else 0,
        "api_endpoint_mode": mode,
        "control_plane_endpoint": endpoint,
        "first_control_plane": cps[0] if cps else None,
        "control_planes": cps,
        "workers": [w for w in workers if w not in cps],
        "schedulable_control_planes": [w for w in workers if w in cps],
        "mirror": (_members(groups, "mirror") or [None])[0],
        "backup": _members(groups, "backup"),
        "hosts": placement,
    }
    plan["summary"] = summary_lines(plan)
    return {"errors": rep.errors, "warnings": rep.warnings, "plan": plan}


def summary_lines(plan):
    """The plan as short lines for a person to read before anything changes."""
    lines = [
        "topology: %s, Kubernetes %s" % (plan["topology"], plan["kubernetes_version"]),
        "API endpoint: %s (mode %s)" % (plan["control_plane_endpoint"], plan["api_endpoint_mode"]),
        "etcd: %s, %d member(s), tolerates %d failure(s)"
        % (plan["etcd_mode"], len(plan["etcd_members"]), plan["etcd_failures_tolerated"]),
    ]
    for host, p in plan["hosts"].items():
        lines.append("%s (%s): %s" % (host, p["address"], "; ".join(p["roles"]) or "nothing"))
    return lines


def nth_subnet(network, prefix, index):
    """The ``index``-th subnet of size ``/prefix`` inside ``network`` (0-based), as text.

    ``nth_subnet("10.244.0.0/16", 24, 3)`` -> ``"10.244.3.0/24"``. Raises ValueError when the
    network is malformed, the prefix is shorter than the network's, or the index is out of range.
    """
    net = ipaddress.ip_network(str(network), strict=True)
    prefix = int(prefix)
    index = int(index)
    if prefix < net.prefixlen or prefix > net.max_prefixlen:
        raise ValueError("/%d does not fit inside %s" % (prefix, net))
    count = 2 ** (prefix - net.prefixlen)
    if not 0 <= index < count:
        raise ValueError("%s has %d subnets of /%d; index %d is out of range" % (net, count, prefix, index))
    size = 2 ** (net.max_prefixlen - prefix)
    first = int(net.network_address) + index * size
    return str(ipaddress.ip_network((first, prefix)))
