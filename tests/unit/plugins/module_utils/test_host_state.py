# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

from ansible_collections.groundwork.k8s.plugins.module_utils import _host_state as H
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError

FILESYSTEMS = "nodev\tsysfs\nnodev\tproc\nnodev\toverlay\n\text4\n"
FEATURES = [{"name": "overlay", "present_path": "/proc/filesystems", "present_pattern": r"\soverlay$"},
            {"name": "br_netfilter", "present_path": "/proc/sys/net/bridge"}]


@pytest.mark.parametrize("files,absent", [
    ({"/proc/filesystems": FILESYSTEMS, "/proc/sys/net/bridge": ""}, []),
    ({"/proc/filesystems": FILESYSTEMS}, ["br_netfilter"]),
    ({"/proc/filesystems": "nodev\tsysfs\n\text4\n", "/proc/sys/net/bridge": ""}, ["overlay"]),
    # the pattern is per line: "overlayfs" or overlay inside a word does not count
    ({"/proc/filesystems": "nodev\toverlayfs\n", "/proc/sys/net/bridge": ""}, ["overlay"]),
    ({}, ["overlay", "br_netfilter"]),
])
def test_absent_features(files, absent):
    assert H.absent_features(FEATURES, exists=files.__contains__, read=files.__getitem__) == absent


@pytest.mark.parametrize("feature,match", [
    ({"name": "x"}, "needs name and present_path"),
    ({"name": "x", "present_path": "/p", "present_pattern": "("}, "bad present_pattern"),
])
def test_absent_features_bad_input(feature, match):
    with pytest.raises(GroundworkError, match=match):
        H.absent_features([feature], exists=lambda p: True, read=lambda p: "")


@pytest.mark.parametrize("text,areas", [
    ("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n", []),
    ("Filename Type Size Used Priority\n/swap.img file 2097148 0 -2\n/dev/vda3 partition 1 0 -3\n",
     [{"path": "/swap.img", "type": "file"}, {"path": "/dev/vda3", "type": "partition"}]),
    ("", []),
])
def test_parse_swaps(text, areas):
    assert H.parse_swaps(text) == areas


def test_host_state_without_proc_swaps():
    files = {"/proc/filesystems": FILESYSTEMS}
    got = H.host_state(FEATURES, exists=files.__contains__, read=files.__getitem__)
    assert got == {"absent_features": ["br_netfilter"], "swap_areas": [], "stale_files": [],
                   "existing_paths": []}


def _files(tmp_path):
    p = tmp_path / "kubeadm"
    p.write_bytes(b"binary")
    p.chmod(0o755)
    import hashlib
    import os
    return str(p), hashlib.sha256(b"binary").hexdigest(), os.getuid(), os.getgid()


@pytest.mark.parametrize("change,stale", [
    ({}, False),
    ({"checksum": "sha256:" + "0" * 64}, True),    # other content
    ({"mode": "0644"}, True),                       # other mode: the install task puts it right
    ({"uid": 4242}, True),                          # other owner
    ({"checksum": "sha512:abc"}, True),             # not judged here: the install task checks it
    ({"path": "/nonexistent/kubeadm"}, True),       # missing
    ({"checksum": None}, True),                     # nothing to compare with
])
def test_stale_files(tmp_path, change, stale):
    path, sha, uid, gid = _files(tmp_path)
    entry = {"name": "kubeadm", "dest": path, "checksum": "sha256:" + sha, "mode": "0755", "uid": uid, "gid": gid}
    entry.update(change)
    want = [entry.get("path") or path] if stale else []
    assert H.stale_files([entry]) == want


def test_stale_files_plain_hex_and_no_path(tmp_path):
    path, sha, uid, gid = _files(tmp_path)
    assert H.stale_files([{"path": path, "checksum": sha.upper()}]) == []
    with pytest.raises(GroundworkError, match="needs a path"):
        H.stale_files([{"name": "kubelet", "checksum": sha}])


def test_existing_paths(tmp_path):
    (tmp_path / "a").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    paths = [str(tmp_path / n) for n in ("a", "b", "link")]
    got = H.host_state([], swaps_path=str(tmp_path / "no-swaps"), paths=paths)
    assert got["existing_paths"] == [str(tmp_path / "a"), str(tmp_path / "link")]
