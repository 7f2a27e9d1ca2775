# -*- coding: utf-8 -*-
"""Tables over the rolling etcd upgrade's plan (_etcd_upgrade), fed with the recorded etcdctl outputs of a
3-member cluster (fixtures/etcd/standalone-3.5.30) and the recorded /version and ``etcd --version`` of
3.4.23 and 3.5.30 (fixtures/etcd/upgrade-3.4-3.5); each member's running version is set per case."""
from __future__ import annotations

import copy
import os

import pytest

from ansible_collections.groundwork.k8s.plugins.module_utils import _etcd as E
from ansible_collections.groundwork.k8s.plugins.module_utils import _etcd_upgrade as U
from ansible_collections.groundwork.k8s.plugins.module_utils._errors import GroundworkError
from conftest import FIXTURES  # tests/conftest.py

FX = os.path.join(FIXTURES, "etcd")
C35 = "standalone-3.5.30/etcdctl-3.5/"
UP = "upgrade-3.4-3.5/"
NAMES = ["cp1", "cp2", "cp3"]


def fx(rel):
    with open(os.path.join(FX, rel), encoding="utf-8") as f:
        return f.read()


def info(health="endpoint-health-cluster-json.stdout", status="endpoint-status-cluster-json.stdout",
         members="member-list-json.stdout"):
    return {"health": E.parse_endpoint_health(fx(C35 + health)),
            "status": E.parse_endpoint_status(fx(C35 + status)),
            "members": E.parse_member_list(fx(C35 + members))["members"]}


def rows(versions, **kw):
    """member_table of the recorded cluster with each member's running version replaced."""
    out = U.member_table(info(**kw))
    for r in out:
        if r["name"] in versions:
            r["version"] = versions[r["name"]]
    return out


@pytest.mark.parametrize("text,want", [
    ("3.5.30", (3, 5, 30)), ("v3.5.30", (3, 5, 30)), ("3.4.0", (3, 4, 0)), ("3.5", (3, 5, 0)),
    (" v3.6.6 ", (3, 6, 6)), ("", None), (None, None), ("3.5.x", None), ("not_decided", None), ("3", None),
])
def test_parse(text, want):
    assert U.parse(text) == want


@pytest.mark.parametrize("rel,server,cluster", [
    (UP + "http-version-3.4.23.json", "3.4.23", "3.4.0"),
    (UP + "http-version-3.5.30.json", "3.5.30", "3.5.0"),
])
def test_http_version_recorded(rel, server, cluster):
    assert U.parse_http_version(fx(rel)) == {"server": server, "cluster": cluster}
    seen = []
    got = U.http_version("https://10.0.0.1:2379/", opener=lambda url, t: seen.append(url) or fx(rel))
    assert seen == ["https://10.0.0.1:2379/version"] and got["cluster"] == cluster


def test_http_version_errors():
    with pytest.raises(GroundworkError, match="cannot parse"):
        U.parse_http_version("<html>")

    def refused(url, t):
        raise OSError("connection refused")
    with pytest.raises(GroundworkError, match="cannot read https://h:2379/version: connection refused"):
        U.http_version("https://h:2379", opener=refused)


def test_member_table_recorded():
    got = {r["name"]: r for r in U.member_table(info())}
    assert sorted(got) == NAMES
    assert [n for n, r in got.items() if r["is_leader"]] == ["cp3"]
    assert all(r["healthy"] and r["version"] == "3.5.30" and r["lag"] == 0 and r["started"] for r in got.values())
    assert got["cp2"]["client_urls"] == ["https://127.0.0.1:12379"]


def test_member_table_one_down():
    one_down = info(health="endpoint-health-one-member-down-json.stdout",
                    status="endpoint-status-one-member-down-json.stdout")
    got = {r["name"]: r for r in U.member_table(one_down)}
    assert not got["cp3"]["healthy"] and got["cp3"]["version"] is None and got["cp3"]["lag"] is None
    assert got["cp3"]["error"] == "context deadline exceeded"
    assert got["cp1"]["is_leader"] and got["cp2"]["healthy"]


OLD = {"cp1": "3.4.23", "cp2": "3.4.23", "cp3": "3.4.23"}
PLANS = [
    # id, target, cluster version, running versions, kind, upgrade list, refusal pattern
    ("minor all", "3.5.30", "3.4.0", OLD, "minor", NAMES, None),
    ("minor v-prefix", "v3.5.30", "3.4.0", OLD, "minor", NAMES, None),
    ("resume after cp1", "3.5.30", "3.4.0", dict(OLD, cp1="3.5.30"), "minor", ["cp2", "cp3"], None),
    ("resume after cp2", "3.5.30", "3.4.0", dict(OLD, cp1="3.5.30", cp2="3.5.30"), "minor", ["cp3"], None),
    ("all done, cluster version not moved yet", "3.5.30", "3.4.0",
     {"cp1": "3.5.30", "cp2": "3.5.30", "cp3": "3.5.30"}, "minor", [], None),
    ("finished", "3.5.30", "3.5.0", {"cp1": "3.5.30", "cp2": "3.5.30", "cp3": "3.5.30"}, "none", [], None),
    ("patch", "3.5.30", "3.5.0", {"cp1": "3.5.16", "cp2": "3.5.16", "cp3": "3.5.30"}, "patch", ["cp1", "cp2"], None),
    ("skip a minor", "3.6.6", "3.4.0", OLD, "none", [], r"skips a minor version: the cluster version is 3\.4 .*newest 3\.5\.x first"),
    ("downgrade minor", "3.4.23", "3.5.0", {"cp1": "3.5.30", "cp2": "3.5.30", "cp3": "3.5.30"}, "none", [],
     r"older than what runs \(cp1 3\.5\.30, cp2 3\.5\.30, cp3 3\.5\.30; cluster version 3\.5\).*not downgraded"),
    ("downgrade patch", "3.5.16", "3.5.0", {"cp1": "3.5.30", "cp2": "3.5.16", "cp3": "3.5.16"}, "none", [],
     r"etcd_upgrade_version=3\.5\.16 is older than what runs \(cp1 3\.5\.30;"),
    ("3.6 needs 3.5.26", "3.6.6", "3.5.0", {"cp1": "3.5.16", "cp2": "3.5.30", "cp3": "3.5.16"}, "minor", [],
     r"etcd 3\.6 needs every member on 3\.5\.26 or later first.*cp1, cp3 run older"),
    ("3.6 from 3.5.30", "3.6.6", "3.5.0", {"cp1": "3.5.30", "cp2": "3.5.30", "cp3": "3.5.30"}, "minor", NAMES, None),
    ("not a version", "latest", "3.4.0", OLD, "none", [], r"etcd_upgrade_version='latest' is not an etcd 3\.x version"),
    ("etcd 4", "4.0.0", "3.4.0", OLD, "none", [], r"is not an etcd 3\.x version"),
    ("cluster version undecided", "3.5.30", "not_decided", OLD, "none", [], r"cluster version is 'not_decided'"),
    ("cluster version unread", "3.5.30", None, OLD, "none", [], r"cluster version is None"),
]


@pytest.mark.parametrize("case,target,cv,versions,kind,upgrade,refused", PLANS, ids=[p[0] for p in PLANS])
def test_plan(case, target, cv, versions, kind, upgrade, refused):
    plan = U.plan_upgrade(target, cv, rows(versions), NAMES)
    if refused:
        assert len(plan["refusals"]) == 1, plan["refusals"]
        assert plan["upgrade"] == []
        import re
        assert re.search(refused, plan["refusals"][0]), plan["refusals"][0]
    else:
        assert plan["refusals"] == []
        assert plan["kind"] == kind and plan["upgrade"] == upgrade
        assert sorted(plan["done"] + plan["upgrade"]) == NAMES


def test_plan_follows_the_inventory_order():
    plan = U.plan_upgrade("3.5.30", "3.4.0", rows(OLD), ["cp3", "cp1", "cp2"])
    assert plan["upgrade"] == ["cp3", "cp1", "cp2"] and plan["final_cluster_version"] == "3.5.0"


def test_plan_member_down_refused_naming_it_and_the_fix():
    r = rows({"cp1": "3.4.23", "cp2": "3.4.23"}, health="endpoint-health-one-member-down-json.stdout",
             status="endpoint-status-one-member-down-json.stdout")
    plan = U.plan_upgrade("3.5.30", "3.4.0", r, NAMES)
    assert plan["upgrade"] == [] and len(plan["refusals"]) == 1
    assert plan["refusals"][0].startswith("member cp3 (https://127.0.0.1:22379) is not healthy (context deadline exceeded)")
    assert "replace_etcd_member.yml -e etcd_replace=cp3" in plan["refusals"][0]


def test_plan_unstarted_learner_and_inventory_mismatch():
    r = rows(OLD, members="member-list-with-unstarted-learner-json.stdout")
    plan = U.plan_upgrade("3.5.30", "3.4.0", r, ["cp1", "cp2", "cp4"])
    text = " | ".join(plan["refusals"])
    assert "cp4 is in the inventory but not a started member" in text
    assert "member cp3 (https://127.0.0.1:22379) is not in the inventory's etcd group" in text
    assert "id f056f6fcb99e2b96) was added but never started" in text
    assert plan["upgrade"] == []


def test_plan_learner_refused():
    r = rows(OLD)
    r[0]["is_learner"] = True
    plan = U.plan_upgrade("3.5.30", "3.4.0", r, NAMES)
    assert plan["refusals"] == ["member cp1 is a learner: finish its join (playbooks/etcd.yml) first"]


@pytest.mark.parametrize("change,ready,why", [
    ({}, True, None),
    ({"version": "3.4.23"}, False, "runs 3.4.23, not 3.5.30"),
    ({"healthy": False, "error": "connection refused"}, False, "not healthy yet: connection refused"),
    ({"lag": 51}, False, "51 raft entries behind the leader"),
    ({"lag": 50}, True, None),
    ({"lag": None}, False, "no raft index from the leader yet"),
])
def test_member_ready(change, ready, why):
    m = dict(rows({"cp1": "3.5.30"})[0], **change)
    assert U.member_ready(m, "v3.5.30") == (ready, why)
    assert U.member_ready(None, "3.5.30") == (False, "not in the member list")


class Recorder:
    """run_command standing in for etcdctl and etcd with the recorded outputs."""

    def __init__(self, binary_out=fx(UP + "etcd-3.5.30-version.stdout")):
        self.argvs = []
        self.binary_out = binary_out

    def __call__(self, argv, environ_update=None, data=None):
        self.argvs.append(list(argv))
        args = " ".join(argv)
        if argv[-1] == "--version":
            return (0, self.binary_out, "") if self.binary_out else (127, "", "not found")
        for words, rel in ((" endpoint health", "endpoint-health-cluster-json.stdout"),
                           (" endpoint status", "endpoint-status-cluster-json.stdout"),
                           (" member list", "member-list-json.stdout")):
            if words in args:
                return 0, fx(C35 + rel), ""
        if argv[1:] == ["version"]:
            return 0, "etcdctl version: 3.5.30\nAPI version: 3.5\n", ""
        raise AssertionError(argv)


@pytest.mark.parametrize("binary_out,want", [
    (fx(UP + "etcd-3.5.30-version.stdout"), "3.5.30"), (fx(UP + "etcd-3.4.23-version.stdout"), "3.4.23"), ("", None)])
def test_read_state_recorded(binary_out, want):
    run = Recorder(binary_out)
    etcd = E.Etcd(endpoints=["https://127.0.0.1:2379", "https://127.0.0.1:12379", "https://127.0.0.1:22379"],
                  etcdctl="/usr/local/bin/etcdctl", etcdutl="", run_command=run)
    asked = []
    state = U.read_state(etcd, "3.5.30", NAMES, member_name="cp2", etcd_binary="/usr/local/bin/etcd", run_command=run,
                         version_reader=lambda ep: asked.append(ep) or U.parse_http_version(fx(UP + "http-version-3.5.30.json")))
    assert state["binary_version"] == want
    assert asked == ["https://127.0.0.1:12379"]  # the first healthy endpoint (sorted)
    assert state["cluster_version"] == "3.5.0" and state["healthy"] and state["leader_name"] == "cp3"
    assert state["plan"]["kind"] == "none" and state["plan"]["upgrade"] == [] and state["plan"]["refusals"] == []
    assert state["ready"] is True and state["member"]["name"] == "cp2"
    assert ["/usr/local/bin/etcd", "--version"] in run.argvs


def test_read_state_cluster_version_unreadable():
    run = Recorder()
    etcd = E.Etcd(endpoints=["https://127.0.0.1:2379"], etcdctl="etcdctl", etcdutl="", run_command=run)

    def broken(ep):
        raise GroundworkError("cannot read %s/version: certificate verify failed" % ep)
    state = U.read_state(etcd, "3.5.30", NAMES, version_reader=broken)
    assert state["cluster_version"] is None and state["ready"] is None
    assert any("certificate verify failed" in r for r in state["plan"]["refusals"])


def test_wait_state_until_ready():
    clock = [0.0]
    states = [copy.deepcopy({"healthy": False, "ready": False, "cluster_version": "3.4.0",
                             "plan": {"refusals": ["member cp1 ... is not healthy"], "final_cluster_version": "3.5.0"}}),
              GroundworkError("etcdctl failed"),
              {"healthy": True, "ready": True, "cluster_version": "3.4.0",
               "plan": {"refusals": [], "final_cluster_version": "3.5.0"}}]

    def read():
        s = states.pop(0)
        if isinstance(s, Exception):
            raise s
        return s
    got = U.wait_state(read, "ready", 60, sleep=lambda s: clock.__setitem__(0, clock[0] + s), clock=lambda: clock[0])
    # every key the playbook's messages name is there, also on success (assert templates fail_msg anyway)
    assert got["reached"] and got["waited"] == 4.0 and got["last_error"] is None and not states


@pytest.mark.parametrize("want,state,ok", [
    ("cluster_version", {"cluster_version": "3.5.0", "plan": {"final_cluster_version": "3.5.0"}}, True),
    ("cluster_version", {"cluster_version": "3.4.0", "plan": {"final_cluster_version": "3.5.0"}}, False),
    ("healthy", {"healthy": True, "plan": {"refusals": []}}, True),
    ("healthy", {"healthy": True, "plan": {"refusals": ["x"]}}, False),
    ("none", {}, True),
])
def test_satisfied(want, state, ok):
    assert U.satisfied(state, want) is ok


def test_wait_state_times_out_with_the_last_reading():
    clock = [0.0]
    state = {"healthy": True, "ready": False, "plan": {"refusals": []}}
    got = U.wait_state(lambda: dict(state), "ready", 10, sleep=lambda s: clock.__setitem__(0, clock[0] + s),
                       clock=lambda: clock[0])
    assert got["reached"] is False and got["waited"] == 10.0 and got["last_error"] is None

    def always_down():
        raise GroundworkError("no endpoint answers")
    with pytest.raises(GroundworkError, match="no endpoint answers"):
        U.wait_state(always_down, "ready", 4, sleep=lambda s: clock.__setitem__(0, clock[0] + s), clock=lambda: clock[0])


def test_recorded_mixed_cluster_in_the_middle_of_the_upgrade():
    """Recorded on the lab (scenario 25) after the first run was stopped: e1 on 3.5.16, e2 (now the leader:
    e1 handed leadership over when it stopped) and e3 on 3.4.23, cluster version still 3.4.0."""
    mixed = UP + "lab-mixed/"
    table = U.member_table({"health": E.parse_endpoint_health(fx(mixed + "endpoint-health-mixed-json.stdout")),
                            "status": E.parse_endpoint_status(fx(mixed + "endpoint-status-mixed-json.stdout")),
                            "members": E.parse_member_list(fx(mixed + "member-list-mixed-json.stdout"))["members"]})
    assert [(r["name"], r["version"], r["is_leader"], r["lag"]) for r in table] == [
        ("e1", "3.5.16", False, 0), ("e2", "3.4.23", True, 0), ("e3", "3.4.23", False, 0)]
    cv = U.parse_http_version(fx(mixed + "http-version-mixed-e1.json"))
    assert cv == {"server": "3.5.16", "cluster": "3.4.0"}
    plan = U.plan_upgrade("3.5.16", cv["cluster"], table, ["e1", "e2", "e3"])
    assert (plan["kind"], plan["upgrade"], plan["done"], plan["refusals"]) == ("minor", ["e2", "e3"], ["e1"], [])
    assert U.member_ready(table[0], "3.5.16") == (True, None)
    # the same cluster asked to go back: refused, naming the member that runs newer
    back = U.plan_upgrade("3.4.23", cv["cluster"], table, ["e1", "e2", "e3"])
    assert back["upgrade"] == [] and "older than what runs (e1 3.5.16; cluster version 3.4)" in back["refusals"][0]


def test_lag_is_never_negative():
    """etcdctl reads the statuses one endpoint after the other: a follower read after the leader can show
    a higher applied index than the leader's (the real run printed -1 before this clamp)."""
    recorded = info()
    for s in recorded["status"]:
        if not s["is_leader"]:
            s["raft_applied_index"] = s["raft_index"] + 3
    assert {r["name"]: r["lag"] for r in U.member_table(recorded)} == {"cp1": 0, "cp2": 0, "cp3": 0}
    recorded["status"][0]["raft_applied_index"] = 2  # cp2 behind the leader's 12
    assert {r["name"]: r["lag"] for r in U.member_table(recorded)}["cp2"] == 10
