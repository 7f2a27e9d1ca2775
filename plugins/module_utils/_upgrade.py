# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""Kubernetes version upgrades with kubeadm: the version policy, what a node runs, what to do.

The policy is kubeadm's own (``kubeadm/app/phases/upgrade/policy.go``), checked before anything
changes so that a bad target fails with a message that says what to fix: one minor at a time,
no downgrade through this path, kubeadm at the target version, pre-releases only when allowed,
no kubelet more than 3 minors behind the target. The playbook runs ``check`` on the first
control plane before it installs any binary.
"""

from __future__ import annotations

import datetime
import json
import os
import re

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError, ToolError
from ansible_collections.groundwork.k8s.plugins.module_utils._kubeadm import kubeadm_error, parse_version, redact

CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
# kubelets may be up to 3 minors older than the API server (Kubernetes version skew policy, >= 1.28)
MAX_KUBELET_SKEW = 3
IMAGE_RE = re.compile(r"""^\s*-?\s*["']?image["']?\s*:\s*["']?([^"'\s,]+)""", re.M)


def version_key(v):
    """Sort key of a parsed version: a pre-release sorts before its release."""
    return (v["major"], v["minor"], v["patch"], 0 if v["pre"] else 1, v["pre"])


def image_tag(image):
    """``registry.k8s.io/kube-apiserver:v1.35.0`` -> ``v1.35.0`` (a digest is dropped; no tag -> None)."""
    ref = image.split("@", 1)[0]
    name, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return None
    return tag


def manifest_version(text):
    """The tag of the first container image in a static pod manifest (YAML or JSON text), or None."""
    m = IMAGE_RE.search(text or "")
    return image_tag(m.group(1)) if m else None


def control_plane_versions(manifest_dir, read):
    """{component: tag or None} for the control-plane manifests present in ``manifest_dir``."""
    found = {}
    for comp in CONTROL_PLANE:
        text = read(os.path.join(manifest_dir, comp + ".yaml"))
        if text is not None:
            found[comp] = manifest_version(text)
    return found


def policy_problems(current, target, kubeadm_version=None, kubelet_versions=(), allow_prerelease=False):
    """What stops an upgrade of a cluster at ``current`` to ``target``; [] when it may go ahead.

    Each problem says what to fix. Versions are strings (``v1.35.0``); ``kubeadm_version`` is the
    version of the kubeadm that will run ``upgrade apply`` (None: not known yet)."""
    problems = []
    try:
        tgt = parse_version(target)
    except GroundworkError:
        return ["target version %r is not a Kubernetes version: give it as vMAJOR.MINOR.PATCH, e.g. v1.35.1" % target]
    cur = parse_version(current)
    if tgt["major"] != cur["major"]:
        problems.append("target %s is not in the cluster's major version %d" % (tgt["version"], cur["major"]))
    elif version_key(tgt) < version_key(cur):
        problems.append("target %s is older than the cluster (%s): downgrades are not supported; to go back, restore "
                        "the backup taken before the upgrade (playbooks/restore.yml)" % (tgt["version"], cur["version"]))
    elif tgt["minor"] > cur["minor"] + 1:
        problems.append("target %s is too high: kubeadm upgrades one minor version at a time; upgrade to the newest "
                        "v%d.%d.x first, then to %s" % (tgt["version"], cur["major"], cur["minor"] + 1, tgt["version"]))
    if tgt["pre"] and not allow_prerelease:
        problems.append("target %s is a pre-release: set upgrade_allow_prerelease=true to allow it (kubeadm's "
                        "--allow-experimental-upgrades)" % tgt["version"])
    if kubeadm_version:
        kv = parse_version(kubeadm_version)
        if kv["version"] != tgt["version"]:
            problems.append("kubeadm on this node is %s, not the target %s: install the target's kubeadm first "
                            "(the artifact manifest / kubernetes_binaries_files must name %s)"
                            % (kv["version"], tgt["version"], tgt["version"]))
    old = sorted({v for v in kubelet_versions if v and tgt["minor"] > parse_version(v)["minor"] + MAX_KUBELET_SKEW})
    if old:
        problems.append("kubelets %s are more than %d minor versions behind %s: upgrade those nodes first"
                        % (", ".join(old), MAX_KUBELET_SKEW, tgt["version"]))
    return problems


def node_decision(mode, target, cp_versions, record):
    """(action, message) for one node: action is 'run' or 'none'.

    apply/node on a control plane: done when every control-plane manifest runs the target tag.
    node on a worker (no manifests): done when this node's upgrade record names the target."""
    if mode == "apply" and "kube-apiserver" not in cp_versions:
        raise GroundworkError("upgrade apply runs on the first control plane: this node has no kube-apiserver manifest")
    if cp_versions:
        behind = sorted(c for c, v in cp_versions.items() if v != target)
        if not behind:
            return "none", "control plane already runs %s" % target
        return "run", "%s not at %s" % (", ".join("%s (%s)" % (c, cp_versions[c]) for c in behind), target)
    if (record or {}).get("version") == target:
        return "none", "node already upgraded to %s (%s)" % (target, record.get("finished", "?"))
    return "run", "node not upgraded to %s yet" % target


def kubeadm_args(p):
    """argv after ``kubeadm`` for ``upgrade apply|node``, from the module parameters."""
    if p["mode"] == "apply":
        args = ["upgrade", "apply", p["version"], "--yes", "--kubeconfig", p["kubeconfig"]]
        if p.get("allow_prerelease"):
            args.append("--allow-experimental-upgrades")
    else:
        args = ["upgrade", "node"]
    args.append("--etcd-upgrade=%s" % str(bool(p.get("etcd_upgrade", True))).lower())
    args.append("--certificate-renewal=%s" % str(bool(p.get("certificate_renewal", True))).lower())
    if p.get("patches_dir"):
        args += ["--patches", p["patches_dir"]]
    if p.get("ignore_preflight_errors"):
        args.append("--ignore-preflight-errors=" + ",".join(p["ignore_preflight_errors"]))
    return args


def _load_record(text):
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def upgrade_action(p, kubeadm, check_mode, read, write, now=None):
    """check | apply | node on this node. ``read(path)`` -> text or None, ``write(path, bytes, mode)`` atomic."""
    target = parse_version(p["version"])["version"]
    cp = control_plane_versions(p["manifest_dir"], read)
    record = _load_record(read(p["record_path"]))
    res = {"changed": False, "mode": p["mode"], "version": target, "control_plane_versions": cp}
    if p["mode"] == "check":
        current = p.get("current_version") or cp.get("kube-apiserver")
        if not current:
            raise GroundworkError("cannot tell the cluster's version: no kube-apiserver manifest in %s and no "
                                  "current_version given" % p["manifest_dir"])
        problems = policy_problems(current, target, None, p.get("kubelet_versions") or (), p.get("allow_prerelease"))
        res.update(current_version=parse_version(current)["version"], problems=problems,
                   upgrade_needed=parse_version(current)["version"] != target)
        if problems:
            raise GroundworkError("upgrade to %s refused, nothing changed: %s" % (target, "; ".join(problems)),
                                  problems=problems, current_version=res["current_version"])
        return res
    action, message = node_decision(p["mode"], target, cp, record)
    res["msg"] = message
    before = {"control_plane_versions": cp, "record": (record or {}).get("version")}
    if action == "none":
        res["diff"] = {"before": before, "after": before}
        return res
    # In check mode the target kubeadm was not installed (the install task only reported it), so the
    # node's kubeadm is not asked: the real run checks it before it runs anything.
    kv = None if check_mode else kubeadm.version()["version"]
    if p["mode"] == "apply":
        problems = policy_problems(cp["kube-apiserver"], target, kv, p.get("kubelet_versions") or (),
                                   p.get("allow_prerelease"))
    else:
        problems = [] if kv in (None, target) else [
            "kubeadm on this node is %s, not the target %s: install the target's kubeadm first" % (kv, target)]
    if problems:
        raise GroundworkError("upgrade to %s refused, nothing changed: %s" % (target, "; ".join(problems)),
                              problems=problems)
    after = {"control_plane_versions": {c: target for c in cp}, "record": target}
    res.update(changed=True, diff={"before": before, "after": after})
    if check_mode:
        return res
    args = kubeadm_args(p)
    rc, out, err = kubeadm.run(args, check=False)
    if rc != 0:
        raise ToolError("kubeadm upgrade %s failed: %s" % (p["mode"], kubeadm_error(err, out)),
                        argv=["kubeadm"] + args, rc=rc, stdout=redact(out), stderr=redact(err))
    cp_after = control_plane_versions(p["manifest_dir"], read)
    if any(v != target for v in cp_after.values()):
        raise GroundworkError("kubeadm upgrade %s exited 0 but the control-plane manifests run %s, not %s"
                              % (p["mode"], cp_after, target))
    now = now or datetime.datetime.now(datetime.timezone.utc)
    rec = {"version": target, "mode": p["mode"], "kubeadm": kv, "previous": before,
           "finished": now.strftime("%Y-%m-%dT%H:%M:%SZ")}
    write(p["record_path"], (json.dumps(rec, indent=1, sort_keys=True) + "\n").encode(), 0o644)
    res.update(control_plane_versions=cp_after, record=rec, stdout_lines=redact(out).splitlines()[-40:])
    return res
