# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""Day 2: converge an installed cluster's configuration, guard its version, per-version host policy.

Convergence uses kubeadm's own rendering: ``kubeadm init phase control-plane all --dry-run`` and
``kubeadm init phase kubelet-start --dry-run`` write the static pod manifests and the kubelet's
``config.yaml`` into a private directory (``KUBEADM_INIT_DRYRUN_DIR``), from the same configuration
documents ``kubeadm init`` got, patches included. What differs from the node's files (compared as
data, not as text) is written atomically; nothing else is touched.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import tempfile

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError
from ansible_collections.groundwork.k8s.plugins.module_utils._kubeadm import dump_docs

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML is on every node (prerequisites)
    HAS_YAML = False

CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
KUBELET = "kubelet"
# file kubeadm writes per component (dry-run dir name -> mode on the node)
FILES = {"kube-apiserver": ("kube-apiserver.yaml", 0o600),
         "kube-controller-manager": ("kube-controller-manager.yaml", 0o600),
         "kube-scheduler": ("kube-scheduler.yaml", 0o600),
         KUBELET: ("config.yaml", 0o644)}
VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$")


# --------------------------------------------------------------------------- versions
def parse(version):
    """``v1.35.0`` / ``1.35.0`` -> (1, 35, 0); None for anything else."""
    m = VERSION_RE.match(str(version or "").strip())
    return tuple(int(x) for x in m.groups()) if m else None


def norm(version):
    v = parse(version)
    return "v%d.%d.%d" % v if v else None


def version_guard(target, cp_versions, kubelet_versions, playbook="site.yml"):
    """Problems (list of str) when ``playbook`` would install kubelet/kubeadm of another version than the cluster runs.

    ``cp_versions``: {host: version of its kube-apiserver manifest} of the installed control planes;
    ``kubelet_versions``: {host: ``kubelet --version``} of the nodes that have joined (kubelet.conf).
    An empty ``cp_versions`` is a new cluster: nothing to guard. Only playbooks/upgrade.yml acts on a new version.
    """
    want = norm(target)
    if want is None:
        return ["groundwork_kubernetes_version %r is not a version (vMAJOR.MINOR.PATCH). Fix: set it to the "
                "version the cluster runs." % (target,)]
    running = sorted({norm(v) or str(v) for v in cp_versions.values() if v})
    if not running:
        return []
    where = ", ".join("%s %s" % (h, norm(v) or v) for h, v in sorted(cp_versions.items()) if v)
    if len(running) > 1:
        return ["the control planes run different versions (%s): an upgrade was interrupted. %s refused before "
                "any binary changed. Fix: set groundwork_kubernetes_version to the newest and finish it with "
                "playbooks/upgrade.yml." % (where, playbook)]
    cluster = running[0]
    if cluster != want:
        newer = (parse(want) or ()) > (parse(cluster) or ())
        fix = ("to upgrade, run playbooks/upgrade.yml (it acts on the new version, one node at a time, after a "
               "verified backup), then %s" % playbook) if newer else (
            "set groundwork_kubernetes_version: %s (a downgrade is not supported)" % cluster)
        return ["groundwork_kubernetes_version is %s but the cluster runs %s (kube-apiserver: %s): %s installs "
                "kubelet and kubeadm only at the cluster's running version and refused before any binary changed. "
                "Fix: %s." % (want, cluster, where, playbook, fix)]
    behind = ["%s %s" % (h, norm(v) or v) for h, v in sorted(kubelet_versions.items()) if v and norm(v) != cluster]
    if behind:
        return ["kubelets not at the cluster's version %s: %s. %s would replace their binaries in place, outside "
                "the drain and health gates. Fix: finish the upgrade with playbooks/upgrade.yml (it skips the "
                "nodes already done)." % (cluster, ", ".join(behind), playbook)]
    return []


def runtime_policy(target, cgroup_v2, containerd_version, fail_cgroup_v1=None):
    """(problems, notes) for the Kubernetes ``target`` on a host with this cgroup mode and containerd.

    Kubernetes 1.35's kubelet refuses to start on a cgroup v1 host unless its configuration says
    ``failCgroupV1: false``; 1.35 is the last release that supports containerd 1.x.
    ``containerd_version``: the installed one (``containerd --version``) or None when not installed.
    ``fail_cgroup_v1``: the inventory's KubeletConfiguration ``failCgroupV1`` (None when not set).
    """
    problems, notes = [], []
    v = parse(target)
    if v is None:
        return problems, notes
    minor = v[:2]
    if minor >= (1, 35) and cgroup_v2 is False:
        if fail_cgroup_v1 is False:
            notes.append("cgroup v1 host with Kubernetes %s: the kubelet runs because control_plane_kubelet_config "
                         "sets failCgroupV1: false (documented opt-out; cgroup v1 support is in maintenance mode and "
                         "will be removed). Move the host to cgroup v2." % norm(target))
        else:
            problems.append("the host uses cgroup v1 and the kubelet of Kubernetes %s refuses to start on it. Fix: boot "
                            "with cgroup v2 (systemd.unified_cgroup_hierarchy=1 on the kernel command line), or opt out "
                            "with a warning: control_plane_kubelet_config: {failCgroupV1: false}." % norm(target))
    cv = parse(containerd_version)
    if cv is not None and cv[0] < 2:
        if minor >= (1, 36):
            problems.append("containerd %s is 1.x; Kubernetes %s needs containerd >= 2.0 (1.35 was the last release "
                            "that supports 1.x). Fix: upgrade containerd to 2.x (container_runtime_source: mirror with a "
                            "2.x artifact, or Debian trixie's package) before this version." % (containerd_version, norm(target)))
        elif minor == (1, 35):
            notes.append("containerd %s is 1.x: Kubernetes 1.35 is the last release that supports it; upgrade "
                         "containerd to 2.x before Kubernetes 1.36." % containerd_version)
    return problems, notes


# --------------------------------------------------------------------------- convergence
def _load(text):
    """Parse a manifest or kubelet config (YAML or JSON) to data; None when missing or unparsable."""
    if text is None:
        return None
    try:
        return yaml.safe_load(text) if HAS_YAML else json.loads(text)
    except Exception:  # noqa: BLE001 - unparsable means "differs"
        return None


def same(current, rendered):
    """True when the node's file says the same as kubeadm's rendering (as data; text when not parsable)."""
    if current is None:
        return False
    a, b = _load(current), _load(rendered)
    if a is None or b is None:
        return current == rendered
    return a == b


def text_diff(name, before, after):
    return "".join(difflib.unified_diff((before or "").splitlines(True), after.splitlines(True),
                                        fromfile="%s (node)" % name, tofile="%s (inventory)" % name))


def render(kubeadm, docs, components, workdir=None):
    """Run kubeadm's dry-run phases for ``components``; return {component: rendered text}.

    ``kubeadm``: a _kubeadm.Kubeadm runner. The configuration is written 0600 in a private temp dir
    (removed afterwards); kubeadm writes its files in a subdirectory through KUBEADM_INIT_DRYRUN_DIR.
    """
    own = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix="groundwork-day2.")
    try:
        os.chmod(workdir, 0o700)
        cfg = os.path.join(workdir, "kubeadm.yaml")
        fd = os.open(cfg, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(dump_docs(docs))
        out = os.path.join(workdir, "out")
        os.makedirs(out, exist_ok=True)
        env = {"KUBEADM_INIT_DRYRUN_DIR": out}
        if any(c in CONTROL_PLANE for c in components):
            kubeadm.run(["init", "phase", "control-plane", "all", "--config", cfg, "--dry-run"], env=env)
        if KUBELET in components:
            kubeadm.run(["init", "phase", "kubelet-start", "--config", cfg, "--dry-run"], env=env)
        rendered = {}
        for comp in components:
            path = os.path.join(out, FILES[comp][0])
            try:
                with open(path) as f:
                    rendered[comp] = f.read()
            except FileNotFoundError:
                raise GroundworkError("kubeadm's dry run wrote no %s for %s: is %s a kubeadm %s?"
                                      % (FILES[comp][0], comp, kubeadm.binary, "v1beta4 (>= 1.31)"))
        return rendered
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)


def target_path(comp, manifest_dir, kubelet_config):
    return kubelet_config if comp == KUBELET else os.path.join(manifest_dir, FILES[comp][0])


def reconfigure_action(p, kubeadm, check_mode, read, write):
    """Decide and (unless check_mode) write what differs. ``p``: config (docs), components, manifest_dir,
    kubelet_config, record_path (optional: the kubeadm configuration
    kept on the node, 0600, written when it differs), render_only (optional: return ``rendered`` and touch nothing),
    rendered (optional: component -> text rendered elsewhere, used instead of running kubeadm here).
    ``read(path)`` -> text or None; ``write(path, bytes, mode)`` atomic.

    Returns the module result: ``changed``, ``components`` (the ones whose file changed), ``diff`` (one entry per
    changed file, before/after text)."""
    comps = list(p["components"])
    unknown = [c for c in comps if c not in FILES]
    if unknown:
        raise GroundworkError("components: %s unknown; choose from %s" % (", ".join(unknown), ", ".join(FILES)))
    missing = [c for c in comps if c in CONTROL_PLANE and read(target_path(c, p["manifest_dir"], "")) is None]
    if missing:
        raise GroundworkError("%s has no %s: this node is not an installed control plane (site.yml installs it first)"
                              % (p["manifest_dir"], ", ".join(FILES[c][0] for c in missing)))
    given = p.get("rendered") or None
    if given is not None:
        absent = [c for c in comps if not isinstance(given.get(c), str)]
        if absent:
            raise GroundworkError("rendered: no text for %s (what render_only returned on a control plane)"
                                  % ", ".join(absent))
        rendered = given
    else:
        rendered = render(kubeadm, p["config"], comps)
    if p.get("render_only"):
        # rendering only (a control plane renders a worker's kubelet configuration: kubeadm's dry run needs the
        # CA key, which a worker does not have); nothing read or written here
        return {"changed": False, "components": [], "record_changed": False, "diff": [], "paths": {},
                "rendered": {c: rendered[c] for c in comps}}
    changed, diffs = [], []
    for comp in comps:
        path = target_path(comp, p["manifest_dir"], p["kubelet_config"])
        current = read(path)
        if same(current, rendered[comp]):
            continue
        changed.append(comp)
        diffs.append({"before_header": path, "after_header": path, "before": current or "", "after": rendered[comp]})
        if not check_mode:
            write(path, rendered[comp].encode(), FILES[comp][1])
    record = p.get("record_path")
    record_changed = False
    if record:
        content = dump_docs(p["config"])
        old = read(record)
        if old != content:
            record_changed = True
            diffs.append({"before_header": record, "after_header": record, "before": old or "", "after": content})
            if not check_mode:
                write(record, content.encode(), 0o600)
    return {"changed": bool(changed) or record_changed, "components": changed, "record_changed": record_changed,
            "diff": diffs,
            "paths": {c: target_path(c, p["manifest_dir"], p["kubelet_config"]) for c in changed}}
