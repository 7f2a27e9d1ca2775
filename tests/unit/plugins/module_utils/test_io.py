# -*- coding: utf-8 -*-
from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError, ToolError
from ansible_collections.groundwork.k8s.plugins.module_utils._io import read_bytes, write_atomic
from ansible_collections.groundwork.k8s.plugins.module_utils._runner import Runner


@pytest.mark.parametrize("mode", [0o600, 0o644, 0o640])
def test_write_atomic_sets_mode_and_content(tmp_path, mode):
    target = tmp_path / "sub" / "key.pem"
    write_atomic(str(target), b"secret", mode=mode)
    assert target.read_bytes() == b"secret"
    assert stat.S_IMODE(os.stat(target).st_mode) == mode
    assert [p.name for p in target.parent.iterdir()] == ["key.pem"]  # no temp file left


def test_write_atomic_replaces_and_reads_back(tmp_path):
    target = tmp_path / "f"
    write_atomic(str(target), b"one")
    write_atomic(str(target), b"two")
    assert read_bytes(str(target)) == b"two"
    assert read_bytes(str(tmp_path / "missing")) is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_write_atomic_unwritable_dir(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    with pytest.raises(GroundworkError, match="not writable"):
        write_atomic(str(d / "x"), b"x")


def test_write_atomic_path_under_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(GroundworkError, match="cannot create directory"):
        write_atomic(str(f / "child"), b"x")


@pytest.mark.parametrize("args,rc", [(["-c", "exit 0"], 0), (["-c", "exit 3"], 3)])
def test_runner_returns_rc_without_check(args, rc):
    result = Runner("sh").run(args, check=False)
    assert result[0] == rc


def test_runner_raises_tool_error_and_uses_c_locale():
    r = Runner("sh")
    result = r.run(["-c", "echo $LC_ALL"])
    assert result[1].strip() == "C"
    with pytest.raises(ToolError) as exc:
        r.run(["-c", "echo boom >&2; exit 4"])
    assert exc.value.rc == 4 and "boom" in exc.value.stderr
