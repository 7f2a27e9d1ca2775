# -*- coding: utf-8 -*-
"""The ca_cert_hash filter against the hash kubeadm printed for the recorded cluster CA."""
from __future__ import annotations

import base64
import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.groundwork.k8s.plugins.filter.ca_cert_hash import FilterModule
from conftest import FIXTURES  # tests/conftest.py

CP1 = os.path.join(FIXTURES, "kubeadm", "cluster", "cp1")


def _recorded():
    with open(os.path.join(CP1, "token-create-print-join-command.stdout")) as f:
        argv = f.read().split()
    with open(os.path.join(CP1, "files", "kubeconfig", "admin.conf")) as f:
        ca_b64 = yaml.safe_load(f)["clusters"][0]["cluster"]["certificate-authority-data"]
    return argv[argv.index("--discovery-token-ca-cert-hash") + 1], ca_b64


HASH, CA_B64 = _recorded()
FILTER = FilterModule().filters()["ca_cert_hash"]


@pytest.mark.parametrize("value", [
    base64.b64decode(CA_B64).decode(),            # PEM text, as slurp | b64decode gives it
    base64.b64decode(CA_B64),                     # bytes
    CA_B64,                                       # kubeconfig certificate-authority-data
    "\n" + base64.b64decode(CA_B64).decode() * 2,  # a bundle: the first certificate counts
], ids=["pem", "bytes", "base64", "bundle"])
def test_filter_equals_print_join_command_hash(value):
    assert FILTER(value) == HASH == "sha256:c99143f1b5624a948a58977513451547913036ffd324f0e13dfb07cdd2af85cb"


@pytest.mark.parametrize("value", ["", "not a certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])
def test_filter_refuses_garbage(value):
    with pytest.raises(AnsibleFilterError, match="not a PEM certificate|neither a PEM"):
        FILTER(value)
