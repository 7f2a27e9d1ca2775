# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.groundwork.k8s.plugins.module_utils import _fileset as F
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_fresh_then_no_op(tmp_path):
    d = tmp_path / "etc" / "app"
    files = [{"path": str(d / "a.conf"), "content": "a\n", "mode": "0644"},
             {"path": str(d / "key"), "content": "secret\n", "mode": "0600", "secret": True}]
    dirs = [{"path": str(d), "mode": "0750"}]
    actions = F.plan(files, dirs)
    assert [(a["kind"], a["reasons"]) for a in actions] == [
        ("directory", ["missing"]), ("file", ["missing"]), ("file", ["missing"])]
    assert F.apply(actions) == [str(d), str(d / "a.conf"), str(d / "key")]
    assert (d / "a.conf").read_text() == "a\n" and _mode(d / "a.conf") == 0o644
    assert _mode(d / "key") == 0o600 and _mode(d) == 0o750
    assert F.plan(files, dirs) == []
    # no temporary file left beside them
    assert sorted(os.listdir(d)) == ["a.conf", "key"]


def test_content_mode_and_owner_differences_are_named(tmp_path):
    p = tmp_path / "f"
    p.write_text("old\n")
    os.chmod(p, 0o600)
    me = os.getuid()
    actions = F.plan([{"path": str(p), "content": "new\n", "mode": "0644", "owner": str(me + 1)}])
    assert actions[0]["reasons"] == ["content", "mode", "owner"]
    # only the mode differs: no rewrite, the diff says so
    actions = F.plan([{"path": str(p), "content": "old\n", "mode": "0644"}])
    assert actions[0]["reasons"] == ["mode"]
    d = F.diff(actions)[0]
    assert d["before"] == "old\n" and "mode changes" in d["after"]
    ino = os.stat(p).st_ino
    F.apply(actions)
    assert _mode(p) == 0o644 and os.stat(p).st_ino == ino and p.read_text() == "old\n"


def test_unset_mode_keeps_the_existing_one(tmp_path):
    p = tmp_path / "f"
    p.write_text("x")
    os.chmod(p, 0o640)
    F.apply(F.plan([{"path": str(p), "content": "y"}]))
    assert p.read_text() == "y" and _mode(p) == 0o640


def test_secret_never_in_the_diff(tmp_path):
    p = tmp_path / "k"
    p.write_text("old-key")
    d = F.diff(F.plan([{"path": str(p), "content": "new-key", "secret": True}]))
    assert "key" not in d[0]["before"] + d[0]["after"].replace("(secret, not shown: content)", "")
    assert "new-key" not in repr(d) and "old-key" not in repr(d)


@pytest.mark.parametrize("entry,match", [
    ({"content": "x"}, "needs a path"),
    ({"path": "/x", "content": "x", "mode": "644a"}, "not an octal number"),
    ({"path": "/x", "content": "x", "owner": "no-such-user-gw"}, "not a user"),
    ({"path": "/x", "content": "x", "group": "no-such-group-gw"}, "not a group"),
    ({"path": "/x"}, "content is required"),
    ({"path": "/x", "content": "x", "validate": "check"}, "must contain %s"),
])
def test_bad_entries_fail_before_anything(entry, match):
    with pytest.raises(GroundworkError, match=match):
        F.plan([entry])


def test_every_entry_is_checked_before_any_write(tmp_path):
    ok = tmp_path / "ok"
    with pytest.raises(GroundworkError, match="listed twice"):
        F.plan([{"path": str(ok), "content": "1"}, {"path": str(ok), "content": "2"}])
    assert not ok.exists()


def test_a_directory_where_a_file_is_wanted(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(GroundworkError, match="not a regular file"):
        F.plan([{"path": str(tmp_path / "d"), "content": "x"}])
    (tmp_path / "f").write_text("")
    with pytest.raises(GroundworkError, match="not a directory"):
        F.plan([], [{"path": str(tmp_path / "f")}])


def test_validate_refuses_and_leaves_the_old_file(tmp_path):
    p = tmp_path / "haproxy.cfg"
    p.write_text("good\n")
    seen = []

    def run(cmd):
        path = cmd.split()[-1]
        seen.append(open(path).read())
        return (1, "", "line 1: bad keyword") if "bad" in seen[-1] else (0, "", "")

    with pytest.raises(GroundworkError, match="refused.*bad keyword.*left as it was"):
        F.apply(F.plan([{"path": str(p), "content": "bad\n", "validate": "check -f %s"}]), run_validate=run)
    assert p.read_text() == "good\n" and os.listdir(tmp_path) == ["haproxy.cfg"]
    F.apply(F.plan([{"path": str(p), "content": "better\n", "validate": "check -f %s"}]), run_validate=run)
    assert p.read_text() == "better\n" and seen == ["bad\n", "better\n"]


def test_owner_is_set_with_chown(tmp_path):
    p = tmp_path / "f"
    calls = []
    F.apply(F.plan([{"path": str(p), "content": "x", "owner": "0", "group": "0"}]),
            chown=lambda path, u, g: calls.append((path, u, g)))
    assert calls == [(str(p), 0, 0)]
