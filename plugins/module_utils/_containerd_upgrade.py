# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""Rolling containerd upgrade (playbooks/upgrade_containerd.yml), planned from what the nodes report.

The target is the artifact manifest's ``containerd`` of the release the inventory names (checksummed like
every other artifact). Each node reports the containerd its daemon runs (``ctr version``'s server version,
or ``containerd --version`` of the binary when the daemon does not answer) and the API says whether it is
Ready. The plan refuses before any change unless every node is Ready, every version is read, and no node
would go backwards or skip a major version (containerd supports 1.6 and 1.7 -> 2.x; the config schema moves
from version 2 to 3, which the container_runtime role renders from the installed binary's version).
A node that already runs the target is done: the plan is read again on every run (no state file), so a
stopped run is finished by running again and a finished one plans nothing.

Version texts seen (recorded from the packages the lab uses):
  ``containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3``  (Debian bookworm)
  ``containerd github.com/containerd/containerd/v2 2.1.9+unknown``                  (Debian sid)
  ``containerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7...``              (upstream release)
"""

from __future__ import annotations

import re

# a version as its own word: "/v2" in the module path is not one (it follows a slash)
_VERSION_RE = re.compile(r"(?:^|\s)v?(\d+)\.(\d+)\.(\d+)")


def parse_version(text):
    """``containerd --version`` / ``ctr version`` output or a manifest version -> (major, minor, patch) or None."""
    m = _VERSION_RE.search(text or "")
    return tuple(int(x) for x in m.groups()) if m else None


def show(version):
    return ".".join(str(x) for x in version) if version else "?"


def config_schema(version):
    """The config.toml schema containerd of this version reads natively: 3 from 2.0 on, else 2."""
    return 3 if version and version[0] >= 2 else 2


def plan(nodes, target, manifest_name="the artifact manifest's containerd"):
    """nodes: [{name, version (text), ready (bool), known (bool)}]; target: version text.

    Returns {target, upgrade: [names], done: [names], versions: {name: x.y.z}, errors: [str], msg}.
    """
    want = parse_version(target)
    out = {"target": show(want), "upgrade": [], "done": [], "versions": {}, "errors": []}
    if want is None:
        out["errors"].append(
            "%s has no version (%r): set containerd's version in artifacts/sources.yml, regenerate the manifest "
            "(scripts/gen-manifest.py), rebuild and serve the mirror (playbooks/mirror.yml)" % (manifest_name, target))
    for node in nodes:
        name = node["name"]
        have = parse_version(node.get("version"))
        out["versions"][name] = show(have)
        if not node.get("known", True):
            out["errors"].append("%s is not a Node of the cluster: join it first (playbooks/add_node.yml) or take it "
                                 "out of the inventory" % name)
        elif not node.get("ready"):
            out["errors"].append("%s is not Ready: bring it back (kubectl describe node %s) before upgrading containerd "
                                 "anywhere" % (name, name))
        if have is None:
            out["errors"].append("%s: containerd's version could not be read (%r): is containerd installed and "
                                 "running there?" % (name, (node.get("version") or "").strip()[:120]))
            continue
        if want is None:
            continue
        if have == want:
            out["done"].append(name)
        elif have > want:
            out["errors"].append(
                "%s runs containerd %s, newer than the target %s: containerd is never downgraded in place; put %s "
                "back in %s (artifacts/sources.yml) or reinstall the node"
                % (name, show(have), show(want), show(have), manifest_name))
        elif want[0] - have[0] > 1:
            out["errors"].append(
                "%s runs containerd %s: %s skips a major version; upgrade to the newest %d.x first (one major at a "
                "time, as containerd supports)" % (name, show(have), show(want), have[0] + 1))
        else:
            out["upgrade"].append(name)
    if out["errors"]:
        out["msg"] = ("upgrade_containerd.yml refused before any change: " + "; ".join(out["errors"]))
    elif out["upgrade"]:
        out["msg"] = "containerd %s on %s, one node at a time (%s)" % (
            show(want), ", ".join(out["upgrade"]),
            ", ".join("%s %s" % (n, out["versions"][n]) for n in out["upgrade"]))
    else:
        out["msg"] = "every node runs containerd %s: nothing to upgrade" % show(want)
    return out


def nodes_from_api(node_list, names):
    """``kubectl get nodes -o json`` (parsed) + inventory names -> {name: {ready, known}}."""
    by_name = {}
    for item in (node_list or {}).get("items", []):
        conds = (item.get("status") or {}).get("conditions") or []
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)
        by_name[(item.get("metadata") or {}).get("name")] = ready
    return {n: {"known": n in by_name, "ready": by_name.get(n, False)} for n in names}
