# -*- coding: utf-8 -*-
"""Role inputs against the repository's real argument specs (plugins/module_utils/_argspec.py).

Every case reads the collection's own roles/*/meta/argument_specs.yml and roles/*/defaults/main.yml
(nothing is copied into the test), so a spec or default that changes is tested as it is.
"""
from __future__ import annotations

import glob
import os
import re
import warnings

import pytest
import yaml

from ansible_collections.groundwork.k8s.plugins.module_utils import _argspec

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
ROLES = _argspec.load_roles(os.path.join(ROOT, "roles"))
KEY_TYPES = "rsa2048, rsa3072, rsa4096, ecdsa256, ecdsa384"


def problems(hostvars, hosts=None, known=()):
    hosts = list(hostvars) if hosts is None else hosts
    return _argspec.check_role_inputs(hostvars, hosts, ROLES["specs"], ROLES["defaults"], known_errors=known)["errors"]


def one(hostvars, **kw):
    out = problems(hostvars, **kw)
    assert len(out) == 1, out
    return out[0]


# ---- the feed map, from the real defaults files

@pytest.mark.parametrize("value,expected", [
    ("{{ groundwork_pki_key_type | default('rsa2048', true) }}",
     {"global": "groundwork_pki_key_type", "default": "rsa2048", "has_default": True, "falsy_default": True}),
    ("{{ groundwork_backup_encryption_key | default('') }}",
     {"global": "groundwork_backup_encryption_key", "default": "", "has_default": True, "falsy_default": False}),
    ("{{ groundwork_kubeadm_ignore_preflight_errors | default([], true) }}",
     {"global": "groundwork_kubeadm_ignore_preflight_errors", "default": [], "has_default": True, "falsy_default": True}),
    ("{{groundwork_x}}", {"global": "groundwork_x", "default": None, "has_default": False, "falsy_default": False}),
    # an expression as the default: still a feed, the default is not a literal
    ("{{ groundwork_etcd_mode | default('external' if (groups['etcd'] | default([]) | length > 0) else 'stacked', true) }}",
     {"global": "groundwork_etcd_mode", "default": None, "has_default": True, "falsy_default": True}),
    ("{{ groundwork_x | default('a', boolean=true) }}",
     {"global": "groundwork_x", "default": "a", "has_default": True, "falsy_default": True}),
])
def test_parse_feed(value, expected):
    assert _argspec.parse_feed(value) == expected


@pytest.mark.parametrize("value", [
    "{{ (groundwork_mirror_url | default('', true)) | length > 0 }}",            # derived bool
    "{{ groundwork_cluster_name | default('kubernetes', true) }}-etcd",          # text around it
    "{{ 'artifacts' if (groundwork_mirror_url | default('', true)) else 'tarball' }}",
    "{{ groundwork_x | default('') | bool }}",                                   # a filter after the default
    "{{ groundwork_x | default('a') }}{{ groundwork_y }}",
    "{{ other_var | default('x') }}",
    "{{ groundwork_x | default('a', 'b') }}",                                    # not a boolean flag
    "plain text", 5, None, ["{{ groundwork_x }}"],
])
def test_parse_feed_refuses_what_is_not_a_plain_feed(value):
    assert _argspec.parse_feed(value) is None


def test_feed_map_from_the_real_defaults():
    feeds = _argspec.feeds_from_defaults(ROLES["defaults"])
    key_type = {(f["role"], f["var"]) for f in feeds["groundwork_pki_key_type"]}
    assert key_type == {("pki", "pki_key_type"), ("control_plane", "control_plane_key_type")}
    assert all(f["default"] == "rsa2048" and f["falsy_default"] for f in feeds["groundwork_pki_key_type"])
    assert ("cni", "cni_pod_subnet") in {(f["role"], f["var"]) for f in feeds["groundwork_pod_subnet"]}
    # derived defaults are not feeds: crictl_from_mirror is a bool computed from the mirror URL
    mirror = {f["var"] for f in feeds["groundwork_mirror_url"]}
    assert "container_runtime_crictl_from_mirror" not in mirror and "etcd_binary_source" not in mirror
    assert "etcd_initial_cluster_token" not in {f["var"] for f in feeds["groundwork_cluster_name"]}
    # every feed points at an option of its role's main entry point (else the global would go unchecked)
    index = _argspec.options_index(ROLES["specs"])
    missing = [(g, f["role"], f["var"]) for g, fs in feeds.items() for f in fs
               if f["role"] not in [r for r, _s in index.get(f["var"], ())]]
    assert not missing, missing


# ---- refusals, named as the user set them

def test_bad_key_type_names_the_global_and_what_it_feeds():
    line = one({"cp1": {"groundwork_pki_key_type": "rsa1024"}})
    assert line.startswith("groundwork_pki_key_type (feeds control_plane_key_type of role control_plane, "
                           "pki_key_type of role pki): value rsa1024 is not one of %s. Fix: set "
                           "groundwork_pki_key_type to one of %s, or remove it to use the default rsa2048." % (
                               KEY_TYPES, KEY_TYPES)), line


def test_unknown_cni_names_the_role_variable():
    line = one({"cp1": {"cni_plugin": "flannel"}, "w1": {"cni_plugin": "flannel"}})
    assert line == ("cni_plugin (role cni): value flannel is not one of calico, bridge, none. "
                    "Fix: set cni_plugin to one of calico, bridge, none, or remove it to use the default calico.")


@pytest.mark.parametrize("var,value,fragment", [
    ("control_plane_cert_sans", "api.example.com", "control_plane_cert_sans is a str, not a list. Fix: set "
     "control_plane_cert_sans to a list of str (YAML list: [a, b])"),
    ("groundwork_kubeadm_ignore_preflight_errors", "Swap", "groundwork_kubeadm_ignore_preflight_errors (feeds "
     "control_plane_ignore_preflight_errors of role control_plane, node_join_ignore_preflight_errors of role "
     "node_join, upgrade_ignore_preflight_errors of role upgrade): groundwork_kubeadm_ignore_preflight_errors "
     "is a str, not a list"),
    ("cni_calico_node_env", "IP=eth0", "cni_calico_node_env is a str, not a dict"),
    ("groundwork_cluster_name", ["a", "b"], "groundwork_cluster_name (feeds access_owner of role access"),
    ("pki_bind_port", "sixfourfourthree", "cannot be converted to an int"),
    ("preflight_fail_on_swap", "maybe", "is not a valid boolean"),
])
def test_wrong_types(var, value, fragment):
    line = one({"cp1": {var: value}})
    assert fragment in line, line
    assert "Fix: " in line


def test_suboptions_and_elements_as_the_spec_says():
    out = problems({"cp1": {"preflight_ports": [{"port": "x", "needed_on": "moon", "colour": 1}, "6443"]}})
    text = "\n".join(out)
    assert "preflight_ports[1] is a str, not a dict" in text
    assert "value of needed_on must be one of: control_plane, node, etcd_member, endpoint_proxy, got: moon" in text
    assert "unsupported parameter preflight_ports.colour" in text
    assert "cannot be converted to an int" in text
    assert all(line.startswith("preflight_ports (role preflight): ") and "Fix: correct preflight_ports as the "
               "argument spec of role preflight says (docs/reference/roles/preflight.md)." in line for line in out), out


def test_required_suboption():
    assert "missing required arguments: needed_on found in preflight_ports" in one(
        {"cp1": {"preflight_ports": [{"port": 6443}]}})


def test_hosts_named_when_not_every_host_has_the_problem():
    line = one({"cp1": {"cni_plugin": "flannel"}, "cp2": {"cni_plugin": "bridge"}, "w1": {}})
    assert line.startswith("cni_plugin (role cni) on cp1: value flannel"), line


def test_secrets_never_in_a_message():
    out = problems({"cp1": {"groundwork_backup_encryption_key": {"key": "s3cr3t-value"},
                            "etcd_backup_encryption_key": ["an0ther-s3cr3t"]}})
    assert len(out) == 2, out
    assert not [line for line in out if "s3cr3t" in line], out


# ---- what is not judged


class Vaulted(object):
    """Stands for ansible-core's EncryptedString (not a str): it must never be converted or printed."""

    def __str__(self):
        raise AssertionError("the vaulted value was decrypted")


@pytest.mark.parametrize("hostvars", [
    {"cp1": {"cni_plugin": "{{ my_cni }}"}},                                  # still a template
    {"cp1": {"control_plane_cert_sans": ["{{ vip }}", "api"]}},
    {"cp1": {"groundwork_apt_repo_key": "{{ lookup('file', 'k.asc') }}"}},
    {"cp1": {"groundwork_pki_key_type": ""}},                                 # default(..., true): role gets rsa2048
    {"cp1": {"groundwork_kubeadm_ignore_preflight_errors": ""}},
    {"cp1": {"cni_plugin": None}},
    {"cp1": {"pki_bind_port": "6443", "preflight_fail_on_swap": "false"}},    # -e gives strings; Ansible accepts
    {"cp1": {"my_own_var": "flannel", "groundwork_confirm": "reset"}},        # no role option, no feed
    {"cp1": {"groundwork_backup_encryption_key": Vaulted(), "control_plane_cert_sans": ["a", Vaulted()]}},
    {"cp1": {"groundwork_pki_key_type": "ecdsa256", "cni_plugin": "bridge",
             "preflight_ports": [{"port": 6443, "needed_on": "control_plane"}]}},
])
def test_not_a_problem(hostvars):
    assert problems(hostvars) == []


def test_a_variable_already_reported_is_not_reported_twice():
    hv = {"cp1": {"groundwork_api_endpoint_mode": "bogus", "cni_plugin": "flannel"}}
    assert len(problems(hv)) == 2
    out = problems(hv, known=["groundwork_api_endpoint_mode is 'bogus'. Fix: choose one of none, haproxy."])
    assert len(out) == 1 and out[0].startswith("cni_plugin"), out


# ---- the repository's own inventories and the scenarios' variables pass clean

_LOADER_READY = []


def _inventory_hostvars(source):
    """Each host's variables as Ansible gives them to ``hostvars.raw_get`` (group_vars included)."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import init_plugin_loader
    from ansible.vars.manager import VariableManager

    if not _LOADER_READY:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # conftest already put the collection finder in place
            init_plugin_loader()
        _LOADER_READY.append(True)
    loader = DataLoader()
    inv = InventoryManager(loader=loader, sources=[source])
    vm = VariableManager(loader=loader, inventory=inv)
    return {h.name: vm.get_vars(host=h, include_hostvars=False) for h in inv.get_hosts()}


INVENTORIES = sorted(glob.glob(os.path.join(ROOT, "inventories", "*", "hosts.yml"))) + [
    os.path.join(ROOT, "tests", "scenarios", "10-host-roles", "inventory")] + sorted(
    glob.glob(os.path.join(ROOT, "tests", "inventories", "*")))


@pytest.mark.parametrize("source", INVENTORIES, ids=[os.path.relpath(s, ROOT) for s in INVENTORIES])
def test_repository_inventories_pass_clean(source):
    hostvars = _inventory_hostvars(source)
    assert hostvars
    result = _argspec.check_role_inputs(hostvars, list(hostvars), ROLES["specs"], ROLES["defaults"])
    assert result["errors"] == []
    if "tests/inventories" not in source:
        assert result["checked"], "nothing checked in %s" % source  # the inventories set role inputs


def test_a_bad_value_in_the_sample_inventory_is_found():
    """The control case of the clean runs: the same loading path finds a broken value."""
    hostvars = _inventory_hostvars(os.path.join(ROOT, "inventories", "sample", "hosts.yml"))
    assert len({hv.get("groundwork_pki_key_type") for hv in hostvars.values()} - {None}) == 1  # the sample sets it
    first = sorted(hostvars)[0]
    hostvars[first] = dict(hostvars[first], groundwork_pki_key_type="rsa1024")
    line = one(hostvars)
    assert line.startswith("groundwork_pki_key_type (feeds ") and " on %s: " % first in line, line


_HEREDOC = re.compile(r"cat > \"?\$\{?WORK\}?/([\w./-]+\.yml)\"? <<-?'?(\w+)'?\n(.*?)\n\s*\2\n", re.S)
_EXTRA = re.compile(r"""-e\s+["']?([a-z][a-z0-9_]*)=([^\s"';)]*)""")
_SCRIPTS = sorted(glob.glob(os.path.join(ROOT, "tests", "scenarios", "**", "*.sh"), recursive=True))


def _scenario_vars_files():
    """The variables files the scenario scripts write (heredocs), shell expansions replaced by text."""
    out = []
    for path in _SCRIPTS:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for m in _HEREDOC.finditer(text):
            body = re.sub(r"\$\([^()]*\)", "lab", m.group(3))
            body = re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", "lab", body)
            data = yaml.safe_load(body)
            if isinstance(data, dict) and "all" not in data:  # variables, not an inventory or a playbook
                out.append(("%s:%s" % (os.path.relpath(path, ROOT), m.group(1)), data))
    return out


VARS_FILES = _scenario_vars_files()


def test_scenario_vars_files_found():
    names = [n for n, _d in VARS_FILES]
    assert "tests/scenarios/70-real/lib.sh:vars.yml" in names and "tests/scenarios/30-install/lib.sh:vars.yml" in names


@pytest.mark.parametrize("name,data", VARS_FILES, ids=[n for n, _d in VARS_FILES])
def test_scenario_vars_pass_clean(name, data):
    result = _argspec.check_role_inputs({"lab": data}, ["lab"], ROLES["specs"], ROLES["defaults"])
    assert result["errors"] == [], name
    assert result["checked"], name


def test_scenario_extra_vars_pass_clean():
    """``-e name=value`` in the scenario scripts: Ansible hands the role a string, as here."""
    pairs = set()
    for path in _SCRIPTS:
        with open(path, encoding="utf-8") as f:
            pairs.update(m.groups() for m in _EXTRA.finditer(f.read()) if "$" not in m.group(2))
    hostvars = {"%s=%s" % p: {p[0]: p[1]} for p in pairs}
    result = _argspec.check_role_inputs(hostvars, list(hostvars), ROLES["specs"], ROLES["defaults"])
    assert result["errors"] == []
    assert len(result["checked"]) >= 10, result["checked"]
