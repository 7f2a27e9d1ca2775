# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""One error type for everything the collection's module_utils refuse or fail at."""

from __future__ import annotations


class GroundworkError(Exception):
    """A failure with a message that says what to fix.

    ``details`` holds extra data for the module result (never secrets).
    """

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details


class ToolError(GroundworkError):
    """An external tool (kubeadm, etcdctl, etcdutl, systemctl, ...) failed."""

    def __init__(self, msg, argv=None, rc=None, stdout="", stderr=""):
        super().__init__(msg, argv=argv, rc=rc, stdout=stdout, stderr=stderr)
        self.argv = argv
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
