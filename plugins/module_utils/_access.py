# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""RBAC from inventory data: manifests, and what to apply, recreate and delete (pure functions)."""

from __future__ import annotations

import re

RBAC = "rbac.authorization.k8s.io"
RBAC_V1 = RBAC + "/v1"
MANAGED_BY = "app.kubernetes.io/managed-by"
OWNER_LABEL = "access.groundwork.k8s/owner"
BUILTIN_CLUSTER_ROLES = ("cluster-admin", "admin", "edit", "view")
RULE_KEYS = ("apiGroups", "resources", "resourceNames", "verbs", "nonResourceURLs")
KINDS = ("ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding")

_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _name_error(name, what):
    """Kubernetes path-segment names (RBAC objects may contain ':'); None when valid."""
    if not isinstance(name, str) or not name:
        return "%s: a non-empty name is required" % what
    if name in (".", "..") or "/" in name or "%" in name or len(name) > 253:
        return "%s: name %r is not a valid object name (no '/', '%%', '.' or '..', at most 253 characters)" % (what, name)
    if name.startswith("system:"):
        return "%s: name %r is reserved for Kubernetes (system:*): choose another name" % (what, name)
    return None


def _strings(value, what, errors, required=False, allow_empty=False):
    if value is None:
        value = []
    if not isinstance(value, list) or not all(isinstance(v, str) and (v or allow_empty) for v in value):
        errors.append("%s must be a list of %sstrings" % (what, "" if allow_empty else "non-empty "))
        return []
    if required and not value:
        errors.append("%s must not be empty" % what)
    return value


def _rules(rules, what, errors, cluster):
    out = []
    if not isinstance(rules, list) or not rules:
        errors.append("%s: rules must be a non-empty list" % what)
        return out
    for i, rule in enumerate(rules):
        where = "%s rule %d" % (what, i + 1)
        if not isinstance(rule, dict):
            errors.append("%s must be a mapping" % where)
            continue
        unknown = sorted(set(rule) - set(RULE_KEYS))
        if unknown:
            errors.append("%s: unknown key(s) %s (use %s)" % (where, ", ".join(unknown), ", ".join(RULE_KEYS)))
            continue
        clean = {k: _strings(rule.get(k), "%s %s" % (where, k), errors, allow_empty=k == "apiGroups")
                 for k in RULE_KEYS if k in rule}
        if not clean.get("verbs"):
            errors.append("%s: verbs must not be empty" % where)
        if clean.get("nonResourceURLs"):
            if not cluster:
                errors.append("%s: nonResourceURLs are only allowed in ClusterRoles" % where)
            if clean.get("resources"):
                errors.append("%s: a rule has resources or nonResourceURLs, not both" % where)
        elif not clean.get("resources"):
            errors.append("%s: resources (with apiGroups) or nonResourceURLs are required" % where)
        elif "apiGroups" not in clean:
            errors.append("%s: apiGroups is required with resources (\"\" is the core group)" % where)
        out.append(clean)
    return out


def _meta(name, owner, namespace=None, labels=None):
    meta = {"name": name, "labels": dict(labels or {}, **{MANAGED_BY: "groundwork", OWNER_LABEL: owner})}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _namespace(value, what, errors):
    if not isinstance(value, str) or not _DNS_LABEL.match(value):
        errors.append("%s: namespace %r is not a valid namespace name (lower-case DNS label)" % (what, value))
        return None
    return value


def _subjects(entry, what, errors):
    subjects = []
    for group in _strings(entry.get("groups"), what + " groups", errors):
        subjects.append({"kind": "Group", "name": group, "apiGroup": RBAC})
    for user in _strings(entry.get("users"), what + " users", errors):
        subjects.append({"kind": "User", "name": user, "apiGroup": RBAC})
    for sa in _strings(entry.get("service_accounts"), what + " service_accounts", errors):
        ns, name = sa.partition("/")[::2]
        if not name or not _DNS_LABEL.match(ns):
            errors.append("%s: service account %r must be written namespace/name" % (what, sa))
            continue
        subjects.append({"kind": "ServiceAccount", "name": name, "namespace": ns})
    if not subjects:
        errors.append("%s: give at least one of groups, users, service_accounts" % what)
    return subjects


def manifests(data, owner):
    """Inventory access data -> (manifests, errors).

    ``data``: dict(cluster_roles=[{name, rules, labels?}], roles=[{name, namespace, rules, labels?}],
    bindings=[{name, cluster_role | role, namespace?, groups?, users?, service_accounts?}]).
    A binding with ``namespace`` is a RoleBinding (to a Role, or to a ClusterRole in that namespace);
    without it a ClusterRoleBinding (``cluster_role`` only). Every object carries the owner label.
    """
    errors = []
    out = []
    if not isinstance(owner, str) or not _LABEL_VALUE.match(owner):
        return [], ["access owner %r must be a label value (letters, digits, '-', '_', '.'; at most 63)" % (owner,)]
    data = data or {}
    for key in ("cluster_roles", "roles", "bindings"):
        if not isinstance(data.get(key) or [], list):
            errors.append("access %s must be a list" % key)
    if errors:
        return [], errors
    for entry in data.get("cluster_roles") or []:
        what = "cluster role %s" % (entry.get("name") if isinstance(entry, dict) else entry)
        if not isinstance(entry, dict):
            errors.append("%s: each entry must be a mapping" % what)
            continue
        err = _name_error(entry.get("name"), what)
        if not err and entry["name"] in BUILTIN_CLUSTER_ROLES:
            err = "%s: %s is a built-in ClusterRole: bind it, do not redefine it" % (what, entry["name"])
        rules = _rules(entry.get("rules"), what, errors, cluster=True)
        if err:
            errors.append(err)
            continue
        out.append({"apiVersion": RBAC_V1, "kind": "ClusterRole",
                    "metadata": _meta(entry["name"], owner, labels=entry.get("labels")), "rules": rules})
    for entry in data.get("roles") or []:
        what = "role %s" % (entry.get("name") if isinstance(entry, dict) else entry)
        if not isinstance(entry, dict):
            errors.append("%s: each entry must be a mapping" % what)
            continue
        err = _name_error(entry.get("name"), what)
        ns = _namespace(entry.get("namespace"), what, errors)
        rules = _rules(entry.get("rules"), what, errors, cluster=False)
        if err:
            errors.append(err)
            continue
        out.append({"apiVersion": RBAC_V1, "kind": "Role",
                    "metadata": _meta(entry["name"], owner, ns, entry.get("labels")), "rules": rules})
    for entry in data.get("bindings") or []:
        what = "binding %s" % (entry.get("name") if isinstance(entry, dict) else entry)
        if not isinstance(entry, dict):
            errors.append("%s: each entry must be a mapping" % what)
            continue
        err = _name_error(entry.get("name"), what)
        if err:
            errors.append(err)
        if ("cluster_role" in entry) == ("role" in entry):
            errors.append("%s: give exactly one of cluster_role or role" % what)
            continue
        ref_kind = "ClusterRole" if "cluster_role" in entry else "Role"
        ref = entry.get("cluster_role") or entry.get("role")
        if not isinstance(ref, str) or not ref:
            errors.append("%s: %s must be a role name" % (what, "cluster_role" if ref_kind == "ClusterRole" else "role"))
            continue
        ns = None
        if entry.get("namespace") is not None:
            ns = _namespace(entry.get("namespace"), what, errors)
        elif ref_kind == "Role":
            errors.append("%s: a binding to a Role needs its namespace" % what)
        subjects = _subjects(entry, what, errors)
        if err:
            continue
        out.append({"apiVersion": RBAC_V1, "kind": "RoleBinding" if ns else "ClusterRoleBinding",
                    "metadata": _meta(entry["name"], owner, ns, entry.get("labels")),
                    "roleRef": {"apiGroup": RBAC, "kind": ref_kind, "name": ref}, "subjects": subjects})
    seen = set()
    for m in out:
        key = _key(m)
        if key in seen:
            errors.append("%s %s is declared twice" % (m["kind"], _display(key)))
        seen.add(key)
    return (out if not errors else []), errors


def _key(obj):
    meta = obj.get("metadata") or {}
    return (obj.get("kind"), meta.get("namespace") or "", meta.get("name"))


def _display(key):
    return "%s/%s" % (key[1], key[2]) if key[1] else key[2]


def _ref(obj):
    meta = obj.get("metadata") or {}
    ref = {"apiVersion": RBAC_V1, "kind": obj.get("kind"), "metadata": {"name": meta.get("name")}}
    if meta.get("namespace"):
        ref["metadata"]["namespace"] = meta["namespace"]
    return ref


def plan(desired, existing, owner, prune=True):
    """What to do against the cluster.

    ``desired``: manifests from :func:`manifests`; ``existing``: every ClusterRole, Role, ClusterRoleBinding and
    RoleBinding the API server lists (objects with ``kind`` and ``metadata``). Returns dict(errors, apply,
    recreate, delete): ``recreate`` are owned bindings whose roleRef changed (immutable in Kubernetes: delete,
    then apply), ``delete`` owned objects no longer in the inventory (only with ``prune``). An object of the same
    kind and name that is not ours (no owner label, or another owner) is an error: it is never taken over.
    """
    errors = []
    by_key = {}
    for obj in existing or []:
        if obj.get("kind") in KINDS:
            by_key[_key(obj)] = obj
    wanted = {_key(m): m for m in desired}
    recreate = []
    for key, m in wanted.items():
        cur = by_key.get(key)
        if cur is None:
            continue
        labels = (cur.get("metadata") or {}).get("labels") or {}
        if labels.get(OWNER_LABEL) != owner:
            whose = ("owner %r" % labels[OWNER_LABEL]) if labels.get(OWNER_LABEL) else "no groundwork owner label"
            errors.append("%s %s exists and is not managed by this inventory (%s): rename the entry, or delete or "
                          "label the object (%s=%s) to hand it over" % (key[0], _display(key), whose, OWNER_LABEL, owner))
            continue
        if "roleRef" in m and cur.get("roleRef") and (
                (cur["roleRef"].get("kind"), cur["roleRef"].get("name")) != (m["roleRef"]["kind"], m["roleRef"]["name"])):
            recreate.append(_ref(m))
    delete = []
    if prune:
        for key, obj in sorted(by_key.items(), key=lambda kv: (KINDS.index(kv[0][0]) * -1, kv[0])):
            labels = (obj.get("metadata") or {}).get("labels") or {}
            if labels.get(OWNER_LABEL) == owner and key not in wanted:
                delete.append(_ref(obj))
    # roles before the bindings that name them
    apply = sorted(desired, key=lambda m: KINDS.index(m["kind"]))
    return {"errors": errors, "apply": apply if not errors else [], "recreate": recreate if not errors else [],
            "delete": delete if not errors else []}


def access_plan(data, existing, owner, prune=True):
    """Both steps at once (the filter): dict(errors, apply, recreate, delete, summary)."""
    desired, errors = manifests(data, owner)
    if errors:
        return {"errors": errors, "apply": [], "recreate": [], "delete": [], "summary": []}
    out = plan(desired, existing, owner, prune)
    out["summary"] = (["apply %s %s" % (m["kind"], _display(_key(m))) for m in out["apply"]]
                      + ["recreate %s %s (roleRef changed)" % (r["kind"], _display(_key(r))) for r in out["recreate"]]
                      + ["delete %s %s (left the inventory)" % (r["kind"], _display(_key(r))) for r in out["delete"]])
    return out


def binding_rows(bindings):
    """One line per binding, sorted: 'ClusterRoleBinding name -> ClusterRole role: Group a, User b' (the listing)."""
    rows = []
    for b in bindings or []:
        meta = b.get("metadata") or {}
        ref = b.get("roleRef") or {}
        where = "%s/%s" % (meta["namespace"], meta.get("name")) if meta.get("namespace") else meta.get("name")
        subjects = ", ".join(
            "%s %s" % (s.get("kind"), "%s/%s" % (s["namespace"], s.get("name")) if s.get("kind") == "ServiceAccount"
                       else s.get("name"))
            for s in b.get("subjects") or [])
        rows.append("%s %s -> %s %s: %s" % (b.get("kind"), where, ref.get("kind"), ref.get("name"), subjects or "nobody"))
    return sorted(rows)
