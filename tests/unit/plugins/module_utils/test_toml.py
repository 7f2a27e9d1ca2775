# -*- coding: utf-8 -*-
"""The TOML writer: exact text for small cases, and a round trip through tomllib."""
from __future__ import annotations

import tomllib

import pytest

from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError
from ansible_collections.groundwork.k8s.plugins.module_utils._toml import dumps

CASES = [
    ("scalars", {"version": 2, "root": "/var/lib/containerd", "debug": False, "ratio": 0.5},
     'version = 2\nroot = "/var/lib/containerd"\ndebug = false\nratio = 0.5\n'),
    ("dotted key quoted", {"plugins": {"io.containerd.grpc.v1.cri": {"sandbox_image": "pause:3.10"}}},
     '[plugins."io.containerd.grpc.v1.cri"]\nsandbox_image = "pause:3.10"\n'),
    ("scalars before subtables", {"a": {"b": {"c": 1}, "x": "y"}},
     '[a]\nx = "y"\n\n[a.b]\nc = 1\n'),
    ("empty table kept", {"a": {}}, "[a]\n"),
    ("list inline", {"capabilities": ["pull", "resolve"]}, 'capabilities = ["pull", "resolve"]\n'),
    ("list of dicts inline", {"x": [{"a": 1}, {"b": "c"}]}, 'x = [{a = 1}, {b = "c"}]\n'),
    ("null dropped", {"a": 1, "b": None, "t": {"c": None, "d": 2}}, 'a = 1\n\n[t]\nd = 2\n'),
    ("escapes", {"s": 'a"b\\c\nd\te\x01'}, 's = "a\\"b\\\\c\\nd\\te\\u0001"\n'),
    ("https key", {"host": {"https://mirror:5000": {"capabilities": ["pull"]}}},
     '[host."https://mirror:5000"]\ncapabilities = ["pull"]\n'),
]


@pytest.mark.parametrize("data,text", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_dumps_exact(data, text):
    assert dumps(data) == text


def test_round_trip_containerd_like():
    data = {
        "version": 2,
        "plugins": {
            "io.containerd.grpc.v1.cri": {
                "sandbox_image": "registry.k8s.io/pause:3.10.1",
                "restrict_oom_score_adj": True,
                "containerd": {"runtimes": {"runc": {"runtime_type": "io.containerd.runc.v2",
                                                     "options": {"SystemdCgroup": True}}}},
                "registry": {"config_path": "/etc/containerd/certs.d"},
            }
        },
    }
    assert tomllib.loads(dumps(data)) == data


@pytest.mark.parametrize("bad", [["not", "a", "table"], {"a": object()}, {1: "int key"}])
def test_refuses_what_toml_cannot_hold(bad):
    with pytest.raises(GroundworkError):
        dumps(bad)
