# -*- coding: utf-8 -*-
"""Table-driven tests of the inventory topology checks (plugins/module_utils/_topology.py)."""
from __future__ import annotations

import pytest

from ansible_collections.groundwork.k8s.plugins.module_utils._topology import check, parse_version


def inv(cp=0, workers=0, etcd=0, extra_groups=None, **allvars):
    """An inventory model: hosts cpN / wN / eN on 10.1.0.x, group vars applied to every host."""
    groups = {"all": [], "ungrouped": []}
    hostvars = {}
    n = 1
    for group, prefix, count in (("kube_control_plane", "cp", cp), ("kube_node", "w", workers), ("etcd", "e", etcd)):
        groups[group] = []
        for i in range(1, count + 1):
            name = "%s%d" % (prefix, i)
            groups[group].append(name)
            groups["all"].append(name)
            hostvars[name] = dict(allvars, ansible_host="10.1.0.%d" % n)
            n += 1
    for g, members in (extra_groups or {}).items():
        groups[g] = list(members)
    return groups, hostvars


def errors(groups, hostvars):
    return check(groups, hostvars)["errors"]


HAPROXY = {"groundwork_api_endpoint_mode": "haproxy"}

# (id, inventory, expected error substrings (all must appear, in one error each), expected topology)
VALID = [
    ("single host", inv(cp=1), "single_host", "10.1.0.1:6443"),
    ("two hosts", inv(cp=1, workers=1), "two_hosts", "10.1.0.1:6443"),
    ("one cp three workers", inv(cp=1, workers=3), "single_control_plane", "10.1.0.1:6443"),
    ("stacked ha haproxy", inv(cp=3, workers=2, **HAPROXY), "stacked_ha", "localhost:8443"),
    ("stacked ha external lb", inv(cp=3, groundwork_api_endpoint_mode="external",
                                   groundwork_control_plane_endpoint="api.example.internal:6443"),
     "stacked_ha", "api.example.internal:6443"),
    ("stacked ha endpoint without port", inv(cp=3, groundwork_control_plane_endpoint="api.example.internal"),
     "stacked_ha", "api.example.internal:6443"),
    ("stacked ha kube-vip", inv(cp=3, groundwork_api_endpoint_mode="kube_vip", api_endpoint_vip="10.1.0.100"),
     "stacked_ha", "10.1.0.100:6443"),
    ("stacked ha keepalived", inv(cp=3, groundwork_api_endpoint_mode="keepalived_haproxy",
                                  api_endpoint_vip="10.1.0.100"),
     "stacked_ha", "10.1.0.100:8443"),
    ("haproxy custom port", inv(cp=3, api_endpoint_haproxy_port=9443, **HAPROXY), "stacked_ha", "localhost:9443"),
    ("external etcd 3", inv(cp=2, workers=1, etcd=3, **HAPROXY), "external_etcd", "localhost:8443"),
    ("external etcd 5", inv(cp=1, etcd=5), "external_etcd", "10.1.0.1:6443"),
    ("single etcd allowed", inv(cp=1, etcd=1, groundwork_allow_single_etcd=True), "external_etcd", "10.1.0.1:6443"),
    ("two cps allowed knowingly", inv(cp=2, groundwork_allow_even_control_planes=True, **HAPROXY),
     "stacked_ha", "localhost:8443"),
    ("extra group declared", inv(cp=1, extra_groups={"rack1": ["cp1"]}, groundwork_extra_groups=["rack1"]),
     "single_host", "10.1.0.1:6443"),
    ("supported older minor", inv(cp=1, groundwork_kubernetes_version="v1.33.4"), "single_host", "10.1.0.1:6443"),
]


@pytest.mark.parametrize("groups_hostvars,topology,endpoint", [v[1:] for v in VALID], ids=[v[0] for v in VALID])
def test_valid_inventories(groups_hostvars, topology, endpoint):
    result = check(*groups_hostvars)
    assert result["errors"] == []
    assert result["plan"]["topology"] == topology
    assert result["plan"]["control_plane_endpoint"] == endpoint


def _dup_ip():
    g, hv = inv(cp=3, workers=2, **HAPROXY)
    hv["w2"]["ansible_host"] = "10.1.0.1"
    return g, hv


def _dup_name():
    g, hv = inv(cp=1, workers=1)
    g["kube_node"].append("W1")
    hv["W1"] = dict(hv["w1"], ansible_host="10.1.0.9")
    return g, hv


def _bad_name():
    g, hv = inv(cp=1)
    g["kube_control_plane"] = ["CP_1"]
    hv["CP_1"] = hv.pop("cp1")
    return g, hv


def _mixed_version():
    g, hv = inv(cp=1, workers=1)
    hv["w1"]["groundwork_kubernetes_version"] = "v1.34.1"
    return g, hv


def _vip_is_node():
    return inv(cp=3, groundwork_api_endpoint_mode="kube_vip", api_endpoint_vip="10.1.0.2")


def _ip_in_pod_subnet():
    return inv(cp=1, groundwork_pod_subnet="10.1.0.0/16")


INVALID = [
    ("even etcd", inv(cp=1, etcd=4), ["4 members, an even count", "remove one (3) or add one (5)"]),
    ("even etcd 2", inv(cp=1, etcd=2), ["2 members, an even count"]),
    ("single etcd", inv(cp=1, etcd=1), ["groundwork_allow_single_etcd: true"]),
    ("nine etcd", inv(cp=1, etcd=9), ["use 3, 5 or 7 etcd members"]),
    ("two stacked cps", inv(cp=2, **HAPROXY), ["losing either", "use 1 or 3 control planes"]),
    ("nine stacked cps", inv(cp=9, **HAPROXY), ["9-member etcd"]),
    ("ha without endpoint", inv(cp=3), ["no API endpoint", "groundwork_api_endpoint_mode: haproxy"]),
    ("external without endpoint", inv(cp=1, groundwork_api_endpoint_mode="external"),
     ["'external' but groundwork_control_plane_endpoint is empty"]),
    ("kube-vip without vip", inv(cp=3, groundwork_api_endpoint_mode="kube_vip"),
     ["api_endpoint_vip is empty", "set api_endpoint_vip"]),
    ("vip is a node address", _vip_is_node(), ["already the address of cp2"]),
    ("haproxy with foreign endpoint", inv(cp=3, groundwork_control_plane_endpoint="lb:6443", **HAPROXY),
     ["set groundwork_control_plane_endpoint to localhost:8443"]),
    ("bad endpoint mode", inv(cp=1, groundwork_api_endpoint_mode="nginx"), ["choose one of none, haproxy"]),
    ("bad endpoint port", inv(cp=1, groundwork_control_plane_endpoint="api:http"), ["is not host:port"]),
    ("duplicate ip", _dup_ip(), ["Hosts cp1, w2 share the address 10.1.0.1", "own ansible_host"]),
    ("duplicate node name", _dup_name(), ["Hosts w1, W1 would all register as node 'w1'"]),
    ("invalid node name", _bad_name(), ["not a valid node name", "lower-case"]),
    ("typo group", inv(cp=1, extra_groups={"kube_control_planes": ["cp2"]}),
     ["Unknown inventory group 'kube_control_planes' (host(s) cp2", "rename group 'kube_control_planes' to "
      "'kube_control_plane'"]),
    ("foreign group", inv(cp=1, extra_groups={"rack1": ["cp1"]}), ["groundwork_extra_groups"]),
    ("workers only", inv(workers=2), ["workers (kube_node: w1, w2) but no control plane"]),
    ("empty", ({"all": [], "ungrouped": []}, {}), ["'kube_control_plane' is empty"]),
    ("unsupported version", inv(cp=1, groundwork_kubernetes_version="v1.29.3"), ["not supported", "v1.33.x"]),
    ("malformed version", inv(cp=1, groundwork_kubernetes_version="1.35"), ["vMAJOR.MINOR.PATCH"]),
    ("etcd mode external no group", inv(cp=1, groundwork_etcd_mode="external"), ["group 'etcd' is empty"]),
    ("etcd mode stacked with group", inv(cp=1, etcd=3, groundwork_etcd_mode="stacked"),
     ["'stacked' but group 'etcd' has hosts"]),
    ("etcd mode typo", inv(cp=1, groundwork_etcd_mode="local"), ["'stacked' or 'external'"]),
    ("version differs per host", _mixed_version(), ["groundwork_kubernetes_version differs", "group_vars/all"]),
    ("overlapping subnets", inv(cp=1, groundwork_pod_subnet="10.96.0.0/16"), ["overlaps"]),
    ("subnet with host bits", inv(cp=1, groundwork_service_subnet="10.96.0.1/12"), ["is not a network"]),
    ("node inside pod subnet", _ip_in_pod_subnet(), ["inside groundwork_pod_subnet"]),
]


@pytest.mark.parametrize("groups_hostvars,expected", [v[1:] for v in INVALID], ids=[v[0] for v in INVALID])
def test_invalid_inventories(groups_hostvars, expected):
    errs = errors(*groups_hostvars)
    assert errs, "expected an error"
    for fragment in expected:
        assert any(fragment in e for e in errs), (fragment, errs)
    for e in errs:
        assert " Fix: " in e, "every error says what to fix: %s" % e


def test_all_problems_reported_at_once():
    g, hv = inv(cp=3, etcd=4, extra_groups={"kube_nodes": ["x"]})
    hv["cp3"]["ansible_host"] = "10.1.0.1"
    errs = errors(g, hv)
    assert len(errs) == 4, errs  # even etcd, no endpoint, duplicate address, unknown group


@pytest.mark.parametrize("n,level,text", [
    (3, None, None),
    (4, "warnings", "tolerate 1 failure(s), the same as 3"),
    (5, None, None),
    (6, "warnings", "tolerate 2 failure(s), the same as 5"),
    (7, None, None),
])
def test_stacked_control_plane_quorum(n, level, text):
    result = check(*inv(cp=n, **HAPROXY))
    assert result["errors"] == []
    if level:
        assert any(text in w for w in result[level]), result[level]
    else:
        assert result["warnings"] == []
    assert result["plan"]["etcd_failures_tolerated"] == (n - 1) // 2


def test_plan_places_everything():
    g, hv = inv(cp=3, workers=2, **HAPROXY)
    g["mirror"] = ["m1"]
    hv["m1"] = dict(hv["cp1"], ansible_host="10.1.0.50", groundwork_mirror_url="http://10.1.0.50:8080")
    for h in hv:
        hv[h]["groundwork_mirror_url"] = "http://10.1.0.50:8080"
    result = check(g, hv)
    assert result["errors"] == [] and result["warnings"] == []
    plan = result["plan"]
    assert plan["first_control_plane"] == "cp1"
    assert plan["workers"] == ["w1", "w2"]
    assert plan["mirror"] == "m1"
    assert plan["hosts"]["cp1"]["roles"][0] == "control plane (initialises the cluster)"
    assert "haproxy on 127.0.0.1:8443" in plan["hosts"]["w2"]["roles"]
    assert plan["hosts"]["m1"]["roles"] == ["site mirror"]
    assert plan["summary"][0] == "topology: stacked_ha, Kubernetes v1.35.0"


@pytest.mark.parametrize("version,parsed", [
    ("v1.35.0", (1, 35, 0, None)),
    ("v1.35.0-alpha.1", (1, 35, 0, "alpha.1")),
    ("v1.34.10-rc.0", (1, 34, 10, "rc.0")),
    ("1.35.0", None),
    ("v1.35", None),
    ("", None),
    (None, None),
])
def test_parse_version(version, parsed):
    assert parse_version(version) == parsed


def test_prerelease_warns():
    result = check(*inv(cp=1, groundwork_kubernetes_version="v1.35.0-alpha.1"))
    assert result["errors"] == []
    assert any("pre-release" in w for w in result["warnings"])


def test_control_plane_also_worker_is_single_host():
    g, hv = inv(cp=1)
    g["kube_node"] = ["cp1"]
    plan = check(g, hv)["plan"]
    assert plan["topology"] == "single_host"
    assert plan["schedulable_control_planes"] == ["cp1"]


@pytest.mark.parametrize("network,prefix,index,expected", [
    ("10.244.0.0/16", 24, 0, "10.244.0.0/24"),
    ("10.244.0.0/16", 24, 3, "10.244.3.0/24"),
    ("10.244.0.0/16", 24, 255, "10.244.255.0/24"),
    ("10.244.0.0/16", 26, 5, "10.244.1.64/26"),
    ("fd00:10::/56", 64, 2, "fd00:10:0:2::/64"),
])
def test_nth_subnet(network, prefix, index, expected):
    from ansible_collections.groundwork.k8s.plugins.module_utils._topology import nth_subnet
    assert nth_subnet(network, prefix, index) == expected


@pytest.mark.parametrize("network,prefix,index", [
    ("10.244.0.0/16", 24, 256),
    ("10.244.0.0/16", 8, 0),
    ("10.244.0.1/16", 24, 0),
    ("10.244.0.0/16", 24, -1),
])
def test_nth_subnet_refuses(network, prefix, index):
    from ansible_collections.groundwork.k8s.plugins.module_utils._topology import nth_subnet
    with pytest.raises(ValueError):
        nth_subnet(network, prefix, index)


KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEabc\n-----END PGP PUBLIC KEY BLOCK-----\n"


@pytest.mark.parametrize("key,fragment", [
    ("", "groundwork_apt_repo_key is empty"),
    ("ssh-ed25519 AAAA", "not an armored OpenPGP public key"),
])
def test_site_apt_repository_needs_its_signing_key(key, fragment):
    errs = errors(*inv(cp=1, groundwork_apt_repo_url="http://192.0.2.5:8080/apt", groundwork_apt_repo_key=key))
    assert len(errs) == 1 and fragment in errs[0] and "apt/groundwork-apt.asc" in errs[0], errs


def test_site_apt_repository_with_key_or_no_repository_is_fine():
    assert errors(*inv(cp=1, groundwork_apt_repo_url="http://192.0.2.5:8080/apt", groundwork_apt_repo_key=KEY)) == []
    assert errors(*inv(cp=1)) == []
