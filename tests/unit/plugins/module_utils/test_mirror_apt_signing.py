# -*- coding: utf-8 -*-
"""The site APT repository's Release signature (plugins/module_utils/_mirror.py), with real gpg and gpgv."""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess

import pytest

from ansible_collections.groundwork.k8s.plugins.module_utils import _mirror as M
from ansible_collections.groundwork.k8s.plugins.module_utils._runner import Runner

pytestmark = pytest.mark.skipif(not (shutil.which("gpg") and shutil.which("gpgv")), reason="gpg/gpgv not installed")


def run(argv):
    return Runner(argv[0]).run(argv[1:])[1]


def repo(tmp_path, text=b"Package: a\nVersion: 1\n"):
    apt = tmp_path / "apt"
    apt.mkdir(exist_ok=True)
    (apt / "Packages").write_bytes(text)
    (apt / "Packages.gz").write_bytes(gzip.compress(text, mtime=0))
    return str(apt)


def gpgv_ok(tmp_path, apt, *files):
    keyring = str(tmp_path / "pinned.gpg")
    subprocess.run(["gpg", "--batch", "--yes", "--dearmor", "-o", keyring, os.path.join(apt, M.APT_KEY_FILE)], check=True)
    return subprocess.run(["gpgv", "--keyring", keyring] + [os.path.join(apt, f) for f in files],
                          capture_output=True, check=False).returncode == 0


def test_signed_then_unchanged_then_resigned_when_the_index_changes(tmp_path):
    apt = repo(tmp_path)
    home = str(tmp_path / "gnupg")
    changed, fpr = M.sign_apt_repo(apt, home, run, "Sun, 06 Dec 2026 19:00:00 GMT")
    assert changed and len(fpr) == 40
    assert gpgv_ok(tmp_path, apt, "InRelease")
    assert gpgv_ok(tmp_path, apt, "Release.gpg", "Release")
    idx = M.release_indexes((tmp_path / "apt" / "Release").read_bytes())
    assert sorted(idx) == ["Packages", "Packages.gz"]
    before = (tmp_path / "apt" / "InRelease").read_bytes()
    assert M.sign_apt_repo(apt, home, run, "later") == (False, fpr)       # same key, nothing to redo
    assert (tmp_path / "apt" / "InRelease").read_bytes() == before
    repo(tmp_path, b"Package: b\nVersion: 2\n")                           # the index changed
    assert not M.release_current(apt, (tmp_path / "apt" / "Release").read_bytes())
    changed, fpr2 = M.sign_apt_repo(apt, home, run, "Mon, 07 Dec 2026 19:00:00 GMT")
    assert changed and fpr2 == fpr
    assert gpgv_ok(tmp_path, apt, "InRelease")


def test_tampered_signature_is_redone_and_a_foreign_key_does_not_verify(tmp_path):
    apt = repo(tmp_path)
    home = str(tmp_path / "gnupg")
    M.sign_apt_repo(apt, home, run, "Sun, 06 Dec 2026 19:00:00 GMT")
    inrelease = tmp_path / "apt" / "InRelease"
    inrelease.write_bytes(inrelease.read_bytes().replace(b"Packages.gz", b"Packages.xz"))
    assert not gpgv_ok(tmp_path, apt, "InRelease")
    changed, _fpr = M.sign_apt_repo(apt, home, run, "x")
    assert changed and gpgv_ok(tmp_path, apt, "InRelease")
    # a repository signed by another site's key fails against this site's pinned key
    other = tmp_path / "other"
    other.mkdir()
    apt2 = repo(other)
    M.sign_apt_repo(apt2, str(other / "gnupg"), run, "x")
    shutil.copy(os.path.join(apt, M.APT_KEY_FILE), os.path.join(apt2, M.APT_KEY_FILE))
    assert not gpgv_ok(other, apt2, "InRelease")


def test_only_packages_gz_still_lists_the_uncompressed_index(tmp_path):
    """apt skips a flat repository whose Release lacks 'Packages' ("does not seem to provide it"), even when only
    Packages.gz is served (the lab's repositories; measured on Debian 12's apt 2.6)."""
    apt = repo(tmp_path)
    os.unlink(os.path.join(apt, "Packages"))
    M.sign_apt_repo(apt, str(tmp_path / "gnupg"), run, "x")
    idx = M.release_indexes((tmp_path / "apt" / "Release").read_bytes())
    raw = b"Package: a\nVersion: 1\n"
    assert idx["Packages"] == (hashlib.sha256(raw).hexdigest(), len(raw)) and "Packages.gz" in idx
    assert M.release_current(apt, (tmp_path / "apt" / "Release").read_bytes())


def test_no_index_no_signature(tmp_path):
    (tmp_path / "apt").mkdir()
    with pytest.raises(Exception, match="no Packages index"):
        M.sign_apt_repo(str(tmp_path / "apt"), str(tmp_path / "gnupg"), run, "x")
