# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""File writing that never leaves a half-written or world-readable key behind."""

from __future__ import annotations

import os
import tempfile

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError


def read_bytes(path):
    """Return the content of ``path`` or None when it does not exist."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def ensure_dir(path, mode=0o755):
    """Create ``path`` (and parents) when missing; raise a clear error when impossible."""
    try:
        os.makedirs(path, mode=mode, exist_ok=True)
    except OSError as exc:
        raise GroundworkError("cannot create directory %s: %s" % (path, exc.strerror or exc))


def write_atomic(path, content, mode=0o600, atomic_move=None):
    """Write ``content`` (bytes) to ``path`` through a temp file in the same directory.

    The temp file is created with ``mode`` from the first byte (O_EXCL, no umask window),
    flushed and fsynced, then moved over ``path``: readers see the old or the new file,
    never a partial one. A replaced file keeps its owner and group (etcd reads its keys as
    the etcd user) when the caller may give them. ``atomic_move`` may be ``module.atomic_move``
    (keeps SELinux contexts); without it ``os.replace`` is used. Returns nothing; raises
    GroundworkError.
    """
    directory = os.path.dirname(os.path.abspath(path)) or "."
    ensure_dir(directory)
    if not os.access(directory, os.W_OK):
        raise GroundworkError("directory %s is not writable: fix its permissions or choose another path" % directory)
    try:
        old = os.stat(path)
    except OSError:
        old = None
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        if old is not None and (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
            try:
                os.fchown(fd, old.st_uid, old.st_gid)
            except PermissionError:
                pass  # not root: the file becomes ours, as any rewrite by this user would
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        if atomic_move is not None:
            atomic_move(tmp, path)
        else:
            os.replace(tmp, path)
        os.chmod(path, mode)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise GroundworkError("cannot write %s: %s" % (path, exc.strerror or exc))
