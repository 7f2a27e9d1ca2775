# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the groundwork.k8s collection: not a public API, may change at any time.
"""A small runner for external tools: argv lists, C locale, one error type.

Modules pass ``module.run_command``; unit tests pass :func:`subprocess_run` or a recorder.
"""

from __future__ import annotations

import subprocess

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import ToolError

C_LOCALE = {"LC_ALL": "C", "LANG": "C"}


def subprocess_run(argv, environ_update=None, data=None):
    """Same contract as AnsibleModule.run_command(argv, environ_update=..., data=...)."""
    import os

    env = dict(os.environ)
    env.update(environ_update or {})
    proc = subprocess.run(argv, input=data.encode() if isinstance(data, str) else data,
                          capture_output=True, env=env, check=False)
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


class Runner:
    """Runs one tool. ``run_command`` follows AnsibleModule.run_command's signature."""

    def __init__(self, binary, run_command=subprocess_run, env=None):
        self.binary = binary
        self._run = run_command
        self.env = dict(C_LOCALE)
        self.env.update(env or {})

    def run(self, args, check=True, data=None, env=None):
        """Run ``binary args...``; return (rc, stdout, stderr); raise ToolError when check and rc != 0."""
        argv = [self.binary] + [str(a) for a in args]
        environ = dict(self.env)
        environ.update(env or {})
        rc, out, err = self._run(argv, environ_update=environ, data=data)
        if check and rc != 0:
            raise ToolError("%s failed (rc=%s): %s" % (" ".join(argv[:3]), rc, (err or out).strip()[-2000:]),
                            argv=argv, rc=rc, stdout=out, stderr=err)
        return rc, out, err
