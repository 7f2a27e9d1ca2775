# -*- coding: utf-8 -*-
"""artifact_image_ref: the sandbox image follows the release being installed (the shipped manifest)."""
from __future__ import annotations

import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from conftest import ROOT
from ansible_collections.groundwork.k8s.plugins.filter.artifact_select import FilterModule

REF = FilterModule().filters()["artifact_image_ref"]
with open(os.path.join(ROOT, "artifacts", "manifest.yml")) as f:
    MANIFEST = yaml.safe_load(f)


@pytest.mark.parametrize("version,want", [
    ("v1.33.3", "registry.k8s.io/pause:3.10"),      # kubeadm 1.33 expects pause 3.10
    ("v1.35.0", "registry.k8s.io/pause:3.10.1"),
])
def test_pause_of_each_release(version, want):
    assert REF(MANIFEST, "pause", version) == want


def test_default_when_the_release_is_missing_else_an_error_naming_the_releases():
    assert REF(MANIFEST, "pause", "v1.20.0", "registry.k8s.io/pause:3.10.1") == "registry.k8s.io/pause:3.10.1"
    with pytest.raises(AnsibleFilterError, match="no release for Kubernetes v1.20.0"):
        REF(MANIFEST, "pause", "v1.20.0")
