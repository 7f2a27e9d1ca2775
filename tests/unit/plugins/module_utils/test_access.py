# -*- coding: utf-8 -*-
"""_access: RBAC manifests from inventory data and the plan against what the API server lists."""
from __future__ import annotations

import pytest

from ansible_collections.groundwork.k8s.plugins.module_utils import _access
from ansible_collections.groundwork.k8s.plugins.filter.access_plan import FilterModule

OWNER = "site-a"
LABELS = {"app.kubernetes.io/managed-by": "groundwork", "access.groundwork.k8s/owner": OWNER}
DATA = {
    "cluster_roles": [{"name": "node-reader", "rules": [{"apiGroups": [""], "resources": ["nodes"],
                                                         "verbs": ["get", "list"]}]}],
    "roles": [{"name": "deployer", "namespace": "apps",
               "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]}]}],
    "bindings": [
        {"name": "platform-admins", "cluster_role": "cluster-admin", "groups": ["platform-admins"]},
        {"name": "ops-view", "cluster_role": "view", "namespace": "apps", "users": ["bob"]},
        {"name": "ci-deployer", "role": "deployer", "namespace": "apps", "service_accounts": ["ci/runner"]},
    ],
}


def _obj(kind, name, namespace=None, labels=None, role_ref=None):
    meta = {"name": name, "labels": labels or {}}
    if namespace:
        meta["namespace"] = namespace
    obj = {"apiVersion": _access.RBAC_V1, "kind": kind, "metadata": meta}
    if role_ref:
        obj["roleRef"] = {"apiGroup": _access.RBAC, "kind": role_ref[0], "name": role_ref[1]}
    return obj


def test_manifests_are_what_kubernetes_expects():
    out, errors = _access.manifests(DATA, OWNER)
    assert errors == []
    by = {(m["kind"], m["metadata"]["name"]): m for m in out}
    assert by[("ClusterRole", "node-reader")]["rules"] == DATA["cluster_roles"][0]["rules"]
    assert by[("Role", "deployer")]["metadata"] == {"name": "deployer", "namespace": "apps", "labels": LABELS}
    crb = by[("ClusterRoleBinding", "platform-admins")]
    assert crb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}
    assert crb["subjects"] == [{"kind": "Group", "name": "platform-admins", "apiGroup": "rbac.authorization.k8s.io"}]
    assert "namespace" not in crb["metadata"]
    rb = by[("RoleBinding", "ops-view")]
    assert rb["metadata"]["namespace"] == "apps" and rb["roleRef"]["kind"] == "ClusterRole"
    assert by[("RoleBinding", "ci-deployer")]["subjects"] == [{"kind": "ServiceAccount", "name": "runner",
                                                               "namespace": "ci"}]
    assert all(m["metadata"]["labels"] == LABELS for m in out)


@pytest.mark.parametrize("data,needle", [
    ({"bindings": [{"name": "x", "cluster_role": "view"}]}, "at least one of groups"),
    ({"bindings": [{"name": "x", "cluster_role": "view", "role": "r", "groups": ["g"]}]}, "exactly one"),
    ({"bindings": [{"name": "x", "role": "r", "groups": ["g"]}]}, "needs its namespace"),
    ({"bindings": [{"name": "system:x", "cluster_role": "view", "groups": ["g"]}]}, "reserved"),
    ({"bindings": [{"name": "a/b", "cluster_role": "view", "groups": ["g"]}]}, "not a valid object name"),
    ({"bindings": [{"name": "x", "cluster_role": "view", "namespace": "Apps", "groups": ["g"]}]}, "namespace"),
    ({"bindings": [{"name": "x", "cluster_role": "view", "service_accounts": ["runner"]}]}, "namespace/name"),
    ({"bindings": [{"name": "x", "cluster_role": "view", "groups": "g"}]}, "list of non-empty strings"),
    ({"bindings": [{"name": "x", "cluster_role": "view", "groups": ["g"]}] * 2}, "declared twice"),
    ({"cluster_roles": [{"name": "view", "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}]},
     "built-in"),
    ({"cluster_roles": [{"name": "r", "rules": []}]}, "non-empty list"),
    ({"cluster_roles": [{"name": "r", "rules": [{"resources": ["pods"], "verbs": ["get"]}]}]}, "apiGroups is required"),
    ({"cluster_roles": [{"name": "r", "rules": [{"apiGroups": [""], "resources": ["pods"]}]}]}, "verbs"),
    ({"cluster_roles": [{"name": "r", "rules": [{"apiGroups": [""], "resource": ["pods"], "verbs": ["get"]}]}]},
     "unknown key"),
    ({"roles": [{"name": "r", "namespace": "a", "rules": [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]}]},
     "only allowed in ClusterRoles"),
    ({"bindings": {"name": "x"}}, "must be a list"),
])
def test_bad_data_is_refused_with_what_to_fix(data, needle):
    out, errors = _access.manifests(data, OWNER)
    assert out == []
    assert any(needle in e for e in errors), errors


def test_bad_owner_is_refused():
    assert _access.manifests(DATA, "not a label!")[1]


def test_first_run_applies_everything_roles_first():
    desired = _access.manifests(DATA, OWNER)[0]
    plan = _access.plan(desired, [], OWNER)
    assert plan["errors"] == [] and plan["delete"] == [] and plan["recreate"] == []
    kinds = [m["kind"] for m in plan["apply"]]
    assert kinds == sorted(kinds, key=_access.KINDS.index) and len(kinds) == 5


def test_binding_that_left_the_inventory_is_deleted_others_untouched():
    desired = _access.manifests({"bindings": DATA["bindings"][1:]}, OWNER)[0]
    existing = [
        _obj("ClusterRoleBinding", "platform-admins", labels=LABELS, role_ref=("ClusterRole", "cluster-admin")),
        _obj("ClusterRoleBinding", "kubeadm:cluster-admins", role_ref=("ClusterRole", "cluster-admin")),
        _obj("ClusterRoleBinding", "theirs", labels={"access.groundwork.k8s/owner": "site-b"},
             role_ref=("ClusterRole", "view")),
        _obj("ClusterRole", "old-role", labels=LABELS),
    ]
    plan = _access.plan(desired, existing, OWNER)
    assert plan["errors"] == []
    assert [(r["kind"], r["metadata"]["name"]) for r in plan["delete"]] == [
        ("ClusterRoleBinding", "platform-admins"), ("ClusterRole", "old-role")]
    assert _access.plan(desired, existing, OWNER, prune=False)["delete"] == []


def test_an_object_of_another_owner_is_never_taken_over():
    desired = _access.manifests(DATA, OWNER)[0]
    for labels in ({}, {"access.groundwork.k8s/owner": "site-b"}):
        existing = [_obj("ClusterRoleBinding", "platform-admins", labels=labels,
                         role_ref=("ClusterRole", "cluster-admin"))]
        plan = _access.plan(desired, existing, OWNER)
        assert plan["apply"] == [] and plan["delete"] == []
        assert "not managed by this inventory" in plan["errors"][0]


def test_changed_role_ref_recreates_the_binding():
    desired = _access.manifests(DATA, OWNER)[0]
    existing = [_obj("ClusterRoleBinding", "platform-admins", labels=LABELS, role_ref=("ClusterRole", "view")),
                _obj("RoleBinding", "ops-view", "apps", labels=LABELS, role_ref=("ClusterRole", "view"))]
    plan = _access.plan(desired, existing, OWNER)
    assert [r["metadata"]["name"] for r in plan["recreate"]] == ["platform-admins"]


def test_filter_summary_and_refusal():
    f = FilterModule().filters()["access_plan"]
    out = f({"bindings": DATA["bindings"][:1]}, [], OWNER)
    assert out["summary"] == ["apply ClusterRoleBinding platform-admins"]
    assert f({"bindings": [{"name": "x"}]}, [], OWNER)["errors"]


def test_binding_rows_list_who_may_do_what():
    rows = FilterModule().filters()["access_binding_rows"]([
        {"kind": "RoleBinding", "metadata": {"name": "ci", "namespace": "apps"},
         "roleRef": {"kind": "Role", "name": "deployer"},
         "subjects": [{"kind": "ServiceAccount", "name": "runner", "namespace": "ci"}]},
        {"kind": "ClusterRoleBinding", "metadata": {"name": "admins"}, "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
         "subjects": [{"kind": "Group", "name": "oidc:platform-admins"}, {"kind": "User", "name": "alice"}]},
        {"kind": "ClusterRoleBinding", "metadata": {"name": "empty"}, "roleRef": {"kind": "ClusterRole", "name": "view"}},
    ])
    assert rows == ["ClusterRoleBinding admins -> ClusterRole cluster-admin: Group oidc:platform-admins, User alice",
                    "ClusterRoleBinding empty -> ClusterRole view: nobody",
                    "RoleBinding apps/ci -> Role deployer: ServiceAccount ci/runner"]
