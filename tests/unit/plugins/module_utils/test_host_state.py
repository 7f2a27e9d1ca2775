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


def test_stale_sysctls_live_and_file():
    files = {"/proc/sys/net/ipv4/ip_forward": "1\n", "/proc/sys/net/bridge/bridge-nf-call-iptables": "0\n",
             "/proc/sys/net/ipv4/ping_group_range": "0\t2147483647\n",
             "/etc/sysctl.d/90.conf": "# x\nnet.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables=1\n"
                                      "net.ipv4.ping_group_range = 0  2147483647\n"}
    want = {"net.ipv4.ip_forward": 1, "net.bridge.bridge-nf-call-iptables": "1",
            "net.ipv4.ping_group_range": "0 2147483647", "net.no.such": 1}
    stale = H.stale_sysctls(want, "/etc/sysctl.d/90.conf", exists=files.__contains__, read=files.__getitem__)
    # live 0 differs; a key the kernel lacks is stale; tab/space runs compare equal
    assert stale == ["net.bridge.bridge-nf-call-iptables", "net.no.such"]
    files["/proc/sys/net/bridge/bridge-nf-call-iptables"] = "1\n"
    files["/etc/sysctl.d/90.conf"] = "net.ipv4.ip_forward = 0\nnet.ipv4.ip_forward = 1\n"
    assert H.stale_sysctls({"net.ipv4.ip_forward": True, "net.bridge.bridge-nf-call-iptables": 1}, "/etc/sysctl.d/90.conf",
                           exists=files.__contains__, read=files.__getitem__) == ["net.bridge.bridge-nf-call-iptables"]
    # no file yet: every key is stale
    assert H.stale_sysctls({"net.ipv4.ip_forward": 1}, "/nope", exists=files.__contains__,
                           read=files.__getitem__) == ["net.ipv4.ip_forward"]


def test_fstab_swap_lines():
    fstab = {"/etc/fstab": "UUID=1 / ext4 defaults 0 1\n/swap.img none swap sw 0 0\n"
                           "# groundwork: swap off for kubelet # /old none swap sw 0 0\n#/x none swap sw 0 0\n"}
    assert H.fstab_swap_lines("/etc/fstab", exists=fstab.__contains__, read=fstab.__getitem__) == ["/swap.img none swap sw 0 0"]
    assert H.fstab_swap_lines("/none", exists=fstab.__contains__, read=fstab.__getitem__) == []


def test_sysctls_need_their_file():
    with pytest.raises(GroundworkError, match="sysctl_file"):
        H.host_state([], swaps_path="/none", exists=lambda p: False, sysctls={"a.b": 1})


def _record(tmp_path, members, archive_sha="a" * 64):
    import hashlib
    import json
    rec = {"archive_sha256": archive_sha,
           "members": {str(p): {"sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "mode": "0755"} for p in members}}
    stamp = tmp_path / "installed.json"
    stamp.write_text(json.dumps(rec))
    return str(stamp)


def test_stale_archives(tmp_path, monkeypatch):
    import os as _os
    bins = [tmp_path / "containerd", tmp_path / "ctr"]
    for b in bins:
        b.write_bytes(b"binary " + b.name.encode())
        _os.chmod(b, 0o755)
    stamp = _record(tmp_path, bins)
    me = _os.stat(bins[0])

    class St:  # the members are root's on a host; here they are the test user's
        def __init__(self, st):
            self.st_mode, self.st_uid, self.st_gid = st.st_mode, 0, 0

    def stat(p):
        return St(_os.stat(p))

    arch = {"name": "containerd", "sha256": "a" * 64, "stamp": stamp,
            "members": [{"dest": str(b), "mode": "0755"} for b in bins]}
    assert H.stale_archives([arch], stat=stat) == []
    # another archive (new version), another member set, a missing record: stale
    assert H.stale_archives([dict(arch, sha256="b" * 64)], stat=stat) == ["containerd"]
    assert H.stale_archives([dict(arch, members=arch["members"][:1])], stat=stat) == ["containerd"]
    assert H.stale_archives([dict(arch, stamp=str(tmp_path / "none.json"))], stat=stat) == ["containerd"]
    # a member changed on the host, has another mode, or is not root's
    bins[1].write_bytes(b"tampered")
    assert H.stale_archives([arch], stat=stat) == ["containerd"]
    stamp = _record(tmp_path, bins)
    _os.chmod(bins[0], 0o700)
    assert H.stale_archives([arch], stat=stat) == ["containerd"]
    _os.chmod(bins[0], 0o755)
    assert H.stale_archives([arch], stat=stat) == []
    assert me.st_uid == 0 or H.stale_archives([arch]) == ["containerd"]
    # a member removed
    bins[0].unlink()
    assert H.stale_archives([arch], stat=stat) == ["containerd"]
    (tmp_path / "bad.json").write_text("{not json")
    assert H.stale_archives([dict(arch, stamp=str(tmp_path / "bad.json"))], stat=stat) == ["containerd"]
    with pytest.raises(GroundworkError, match="name and stamp"):
        H.stale_archives([{"name": "x"}])


def test_read_files_and_commands(tmp_path):
    f = tmp_path / "machine-id"
    f.write_text("abc\n")
    assert H.read_files([str(f), str(tmp_path / "none")]) == {str(f): "abc\n", str(tmp_path / "none"): None}
    big = tmp_path / "big"
    big.write_text("x" * 20)
    with pytest.raises(GroundworkError, match="larger than"):
        H.read_files([str(big)], limit=10)
    out = H.run_commands({"echo": {"argv": ["echo", "v1.2.3"]}, "missing": {"argv": ["/no/such/program-gw"]},
                          "guarded": {"argv": ["echo", "x"], "if_exists": str(tmp_path / "none")},
                          "failing": {"argv": ["sh", "-c", "echo bad >&2; exit 3"]}})
    assert out["echo"] == {"rc": 0, "stdout": "v1.2.3", "stderr": "", "skipped": False}
    assert out["missing"]["rc"] == 127 and not out["missing"]["skipped"]
    assert out["guarded"]["skipped"] and out["guarded"]["rc"] is None
    assert out["failing"]["rc"] == 3 and out["failing"]["stderr"] == "bad"
    with pytest.raises(GroundworkError, match="needs argv"):
        H.run_commands({"x": {"argv": "echo"}})
