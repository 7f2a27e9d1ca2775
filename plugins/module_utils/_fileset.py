# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""A role's set of configuration files and directories compared and converged in one module call.

A role used to write each rendered file with its own template/copy task: two module runs on the host per
file (a checksum stat, then the copy) even on a run where nothing changed. ``plan`` compares every entry
with the host in one pass (content, mode, owner, group) and says what differs; ``apply`` writes only that,
each file through a temporary file in its directory and an atomic move (readers see the old or the new file,
never half of one), after an optional validation command has accepted the temporary file. Plain functions
over the file system, so tests need no Ansible."""

from __future__ import annotations

import grp
import os
import pwd
import stat

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError
from ansible_collections.groundwork.k8s.plugins.module_utils._io import read_bytes, write_atomic


def _mode(value, what):
    if value is None:
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    try:
        mode = int(text, 8)
    except ValueError:
        raise GroundworkError("%s: mode %r is not an octal number (write it quoted, e.g. \"0644\")" % (what, value))
    if mode < 0 or mode > 0o7777:
        raise GroundworkError("%s: mode %r is out of range" % (what, value))
    return mode


def _uid(name, what):
    return _id(name, lambda n: pwd.getpwnam(n).pw_uid, "%s: owner %r is not a user on this host" % (what, name))


def _gid(name, what):
    return _id(name, lambda n: grp.getgrnam(n).gr_gid, "%s: group %r is not a group on this host" % (what, name))


def _id(name, lookup, unknown):
    """A user or group given by name or number -> its number (None stays None)."""
    if name is None:
        return None
    if isinstance(name, int) or str(name).isdigit():
        return int(name)
    try:
        return lookup(name)
    except KeyError:
        raise GroundworkError(unknown)


def _normalize(entries, kind):
    out, seen = [], set()
    for e in entries or []:
        if not isinstance(e, dict) or not e.get("path"):
            shown = e if kind == "directories" or not isinstance(e, dict) else {k: v for k, v in e.items() if k != "content"}
            raise GroundworkError("every entry of %s needs a path (got %r)" % (kind, shown))
        path = os.path.abspath(str(e["path"]))
        if path in seen:
            raise GroundworkError("%s is listed twice in %s" % (path, kind))
        seen.add(path)
        what = "%s %s" % (kind[:-1] if kind == "files" else "directory", path)
        n = {"path": path, "mode": _mode(e.get("mode"), what),
             "uid": _uid(e.get("owner"), what), "gid": _gid(e.get("group"), what)}
        if kind == "files":
            content = e.get("content")
            if content is None:
                raise GroundworkError("%s: content is required" % what)
            n["content"] = content.encode("utf-8") if isinstance(content, str) else bytes(content)
            n["validate"] = e.get("validate") or None
            if n["validate"] and "%s" not in n["validate"]:
                raise GroundworkError("%s: validate must contain %%s (the file to check), got %r" % (what, n["validate"]))
            n["secret"] = bool(e.get("secret", False))
        out.append(n)
    return out


def plan(files=(), directories=(), lstat=os.lstat, read=read_bytes):
    """Compare the wanted directories and files with the host.

    Returns a list of actions, one per entry that differs, in the order directories then files:
    ``{path, kind ('directory'|'file'), reasons: [...], entry, before, old_mode}`` where reasons name what differs
    (``missing``, ``content``, ``mode``, ``owner``, ``group``), ``before`` is a file's old content and ``old_mode``
    the mode it has now (None when missing). Raises GroundworkError on a bad entry, or on a path that is not a
    directory / not a regular file where one is wanted, before anything is changed."""
    dirs = _normalize(directories, "directories")
    fils = _normalize(files, "files")
    actions = []
    for kind, entries in (("directory", dirs), ("file", fils)):
        for e in entries:
            try:
                st = lstat(e["path"])
            except FileNotFoundError:
                actions.append({"path": e["path"], "kind": kind, "reasons": ["missing"], "entry": e, "before": None,
                                "old_mode": None})
                continue
            reasons = []
            want_type = stat.S_ISDIR if kind == "directory" else stat.S_ISREG
            if not want_type(st.st_mode):
                raise GroundworkError("%s exists and is %s: move it away or fix the path"
                                      % (e["path"], "not a directory" if kind == "directory" else "not a regular file"))
            before = None
            if kind == "file":
                before = read(e["path"])
                if before != e["content"]:
                    reasons.append("content")
            if e["mode"] is not None and stat.S_IMODE(st.st_mode) != e["mode"]:
                reasons.append("mode")
            if e["uid"] is not None and st.st_uid != e["uid"]:
                reasons.append("owner")
            if e["gid"] is not None and st.st_gid != e["gid"]:
                reasons.append("group")
            if reasons:
                actions.append({"path": e["path"], "kind": kind, "reasons": reasons, "entry": e, "before": before,
                                "old_mode": stat.S_IMODE(st.st_mode)})
    return actions


def diff(actions):
    """Ansible diff entries (one per action); a secret file's content is never shown."""
    out = []
    for a in actions:
        e = a["entry"]
        if a["kind"] == "directory":
            out.append({"before_header": a["path"], "after_header": a["path"],
                        "before": "" if a["before"] is None and "missing" in a["reasons"] else "directory\n",
                        "after": "directory (%s)\n" % ", ".join(a["reasons"])})
            continue
        if e["secret"]:
            out.append({"before_header": a["path"], "after_header": a["path"],
                        "before": "(secret, not shown)\n" if a["before"] is not None else "",
                        "after": "(secret, not shown: %s)\n" % ", ".join(a["reasons"])})
            continue
        before = "" if a["before"] is None else a["before"].decode("utf-8", "replace")
        after = e["content"].decode("utf-8", "replace")
        if "content" not in a["reasons"] and a["before"] is not None:
            after = "%s\n(%s changes)\n" % (after.rstrip("\n"), ", ".join(a["reasons"]))
        out.append({"before_header": a["path"], "after_header": a["path"], "before": before, "after": after})
    return out


def apply(actions, run_validate=None, chown=os.chown, atomic_move=None):
    """Carry out ``plan``'s actions. ``run_validate(cmd_with_path) -> (rc, out, err)`` checks a file's new
    content in a temporary file before it replaces the old one (a refused file is not written and the error
    names the command's output; the entries before it stay done, the ones after it are not started).
    Returns the changed paths."""
    changed = []
    for a in actions:
        e = a["entry"]
        if a["kind"] == "directory":
            if "missing" in a["reasons"]:
                try:
                    os.makedirs(e["path"], mode=0o755 if e["mode"] is None else e["mode"])
                except OSError as exc:
                    raise GroundworkError("cannot create directory %s: %s" % (e["path"], exc.strerror or exc))
            _set_attrs(e, chown)
            changed.append(e["path"])
            continue
        if "content" in a["reasons"] or "missing" in a["reasons"]:
            if e["validate"]:
                _validate(e, run_validate)
            # unset mode: an existing file keeps the mode plan() saw, a new one gets 0644
            mode = e["mode"] if e["mode"] is not None else (0o644 if a["old_mode"] is None else a["old_mode"])
            write_atomic(e["path"], e["content"], mode=mode, atomic_move=atomic_move)
        _set_attrs(e, chown)
        changed.append(e["path"])
    return changed


def _set_attrs(e, chown):
    try:
        if e["uid"] is not None or e["gid"] is not None:
            chown(e["path"], -1 if e["uid"] is None else e["uid"], -1 if e["gid"] is None else e["gid"])
        if e["mode"] is not None:
            os.chmod(e["path"], e["mode"])
    except OSError as exc:
        raise GroundworkError("cannot set the owner or mode of %s: %s" % (e["path"], exc.strerror or exc))


def _validate(e, run_validate):
    if run_validate is None:
        raise GroundworkError("%s: a validate command needs a runner" % e["path"])
    directory = os.path.dirname(e["path"])
    tmp = os.path.join(directory, ".%s.validate" % os.path.basename(e["path"]))
    try:
        write_atomic(tmp, e["content"], mode=0o600 if e["secret"] else 0o644)
        rc, out, err = run_validate(e["validate"].replace("%s", tmp))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if rc != 0:
        raise GroundworkError("%s: the new content was refused by %r (rc %s): %s; the file was left as it was"
                              % (e["path"], e["validate"], rc, (err or out or "").strip()[-1500:]))
