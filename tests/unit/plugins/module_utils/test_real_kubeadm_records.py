# -*- coding: utf-8 -*-
"""Recorded facts of real kubeadm v1.33.3 (the real lane's media) against the product's reviewed inputs."""
from __future__ import annotations

import json
import os

import yaml

from conftest import FIXTURES, ROOT
from ansible_collections.groundwork.k8s.plugins.module_utils import _kubeadm as k

REC = os.path.join(FIXTURES, "kubeadm-v1.33.3")


def test_release_1_33_lists_exactly_the_images_real_kubeadm_wants():
    """kubeadm's images: every entry of the release but the pod network's (calico-*, the CNI is not kubeadm's)."""
    with open(os.path.join(REC, "config-images-list.txt")) as f:
        wanted = sorted(line.strip() for line in f if line.strip())
    with open(os.path.join(ROOT, "artifacts", "sources.yml")) as f:
        rel = yaml.safe_load(f)["releases"]["1.33"]
    listed = sorted(ref.format(kubernetes_version=rel["kubernetes_version"])
                    for name, ref in rel["images"].items() if not name.startswith("calico-"))
    assert listed == wanted
    assert sorted(n for n in rel["images"] if n.startswith("calico-")) == ["calico-cni", "calico-kube-controllers", "calico-node"]


def test_release_1_33_is_the_recorded_kubeadm_version():
    with open(os.path.join(REC, "version.json")) as f:
        real = json.load(f)["clientVersion"]["gitVersion"]
    with open(os.path.join(ROOT, "artifacts", "sources.yml")) as f:
        rel = yaml.safe_load(f)["releases"]["1.33"]
    assert rel["kubernetes_version"] == real == rel["files"]["kubeadm"]


def test_parse_version_reads_real_kubeadm_and_kubelet_output():
    with open(os.path.join(REC, "version.json")) as f:
        got = k.parse_version(f.read())  # the whole `kubeadm version -o json` document
    assert (got["version"], got["minor"], got["patch"], got["pre"]) == ("v1.33.3", 33, 3, "")
    with open(os.path.join(REC, "kubelet-version.txt")) as f:
        assert k.parse_version(f.read().split()[-1])["version"] == "v1.33.3"
