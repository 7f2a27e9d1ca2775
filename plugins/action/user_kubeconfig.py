# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action groundwork.k8s.user_kubeconfig: key on the controller, signature on the control plane, file on the controller."""

from __future__ import annotations

import os

from ansible.plugins.action import ActionBase

from ansible_collections.groundwork.k8s.plugins.module_utils import _io, _pki, _user_cert
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError

ARGUMENT_SPEC = dict(
    path=dict(type="path", required=True),
    user=dict(type="str", required=True),
    groups=dict(type="list", elements="str", default=[]),
    validity_hours=dict(type="float", default=8),
    renew_within_hours=dict(type="float", default=1),
    force=dict(type="bool", default=False),
    server=dict(type="str"),
    key_type=dict(type="str", default="ecdsa256", choices=list(_pki.KEY_TYPES)),
    pki_dir=dict(type="path", default="/etc/kubernetes/pki"),
    admin_kubeconfig=dict(type="path", default="/etc/kubernetes/admin.conf"),
    allow_system_masters=dict(type="bool", default=False),
)


class ActionModule(ActionBase):
    """See plugins/modules/user_kubeconfig.py."""

    TRANSFERS_FILES = False
    _requires_connection = True

    def _sign(self, task_vars, args, public_key=None):
        margs = {k: args[k] for k in ("pki_dir", "admin_kubeconfig", "user", "groups", "validity_hours",
                                      "allow_system_masters")}
        if public_key is not None:
            margs["public_key"] = public_key
        res = self._execute_module(module_name="groundwork.k8s.client_certificate", module_args=margs,
                                   task_vars=task_vars)
        if res.get("failed"):
            raise GroundworkError("on %s: %s" % (task_vars.get("inventory_hostname"), res.get("msg")))
        return res

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        path = os.path.abspath(os.path.expanduser(args["path"]))
        result.update(path=path, action="unchanged", reasons=[], kubeconfig={})
        try:
            _pki.require_libs()
            groups = _user_cert.check_identity(args["user"], args["groups"], args["allow_system_masters"])
            _user_cert.check_validity(args["validity_hours"])
            args["groups"] = list(groups)
            info = self._sign(task_vars, args)
            server = args["server"] or info.get("server")
            cluster = info.get("cluster") or "kubernetes"
            if not server:
                raise GroundworkError("%s cannot be read on %s: give server"
                                      % (args["admin_kubeconfig"], task_vars.get("inventory_hostname")))
            ca_bundle = info["ca"].encode("ascii")
            ca_cert = _pki.load_certs(ca_bundle, "cluster ca.crt")[0]
            now = _pki.utcnow()
            existing = _io.read_bytes(path)
            reasons = _user_cert.needs_issue(existing, args["user"], groups, server, cluster, ca_bundle, ca_cert,
                                             args["renew_within_hours"], now)
            if not reasons and args["force"]:
                reasons = ["new credential forced"]
            before = _user_cert.existing_summary(existing, now)
            if not reasons:
                result.update(changed=False, kubeconfig=before)
                return result
            result.update(changed=True, reasons=reasons, action="created" if existing is None else "renewed",
                          kubeconfig=before or {})
            after = {"user": args["user"], "groups": list(groups), "server": server, "cluster": cluster,
                     "not_after": "(issued at the run)"}
            if self._task.check_mode:
                result["diff"] = dict(before=before or {}, after=after)
                return result
            key = _pki.generate_key(args["key_type"])
            signed = self._sign(task_vars, args, _pki.public_pem(key).decode("ascii"))
            cert = _pki.load_certs(signed["certificate"].encode("ascii"), "signed certificate")[0]
            if not _pki.key_matches(cert, key) or not _pki.issued_by(cert, ca_cert):
                raise GroundworkError("the control plane returned a certificate that does not match the key or CA")
            content = _pki.render_kubeconfig(cluster, server, args["user"], ca_bundle,
                                             _pki.cert_pem(cert), _pki.key_pem(key))
            _io.write_atomic(path, content, 0o600)
            after = _user_cert.summary(cert, server, cluster, now)
            result.update(kubeconfig=after, diff=dict(before=before or {}, after=after))
        except GroundworkError as exc:
            result.update(failed=True, msg=exc.msg)
        return result
