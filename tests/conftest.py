# -*- coding: utf-8 -*-
"""Make `ansible_collections.groundwork.k8s` importable from this checkout."""
from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".collections")
link = os.path.join(COLLECTIONS, "ansible_collections", "groundwork", "k8s")
if not os.path.exists(link):
    os.makedirs(os.path.dirname(link), exist_ok=True)
    os.symlink(ROOT, link)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
# Recorded kubeadm/etcd behaviour the tests compare against (see tests/fixtures/README.md)
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
