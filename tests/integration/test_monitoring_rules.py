# -*- coding: utf-8 -*-
# Copyright: Groundwork maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Groundwork's alert rules through the real promtool (Debian bookworm's prometheus 2.42, the version the
bundle installs): `promtool check rules` and `promtool test rules` with series as the textfile collector
delivers them (tests/integration/files/groundwork.rules.test.yml): each alert fires on what it is for and
stays quiet otherwise. promtool comes from PATH, $GW_PROMTOOL, or is taken out of Debian's prometheus
package (`apt-get download`, cached in $GW_PROMTOOL_CACHE, default /var/cache/groundwork-lab/promtool)."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULES = os.path.join(ROOT, "roles", "monitoring", "files", "groundwork.rules.yml")
TESTS = os.path.join(ROOT, "tests", "integration", "files", "groundwork.rules.test.yml")
CACHE = os.environ.get("GW_PROMTOOL_CACHE", "/var/cache/groundwork-lab/promtool")


def _promtool():
    found = os.environ.get("GW_PROMTOOL") or shutil.which("promtool")
    if found:
        return found
    cached = os.path.join(CACHE, "usr", "bin", "promtool")
    if os.access(cached, os.X_OK):
        return cached
    os.makedirs(CACHE, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", "prometheus"], cwd=tmp, check=True, capture_output=True)
        deb = glob.glob(os.path.join(tmp, "prometheus_*.deb"))[0]
        subprocess.run(["dpkg-deb", "-x", deb, CACHE], check=True)
    return cached


@pytest.fixture(scope="module")
def promtool():
    return _promtool()


def test_rules_check(promtool):
    out = subprocess.run([promtool, "check", "rules", RULES], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_rules_fire_on_what_they_are_for(promtool):
    out = subprocess.run([promtool, "test", "rules", os.path.basename(TESTS)], cwd=os.path.dirname(TESTS),
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_wrong_threshold_fails_the_rule_tests(promtool, tmp_path):
    # the rule tests can fail: the critical certificate threshold moved from 7 to 2 days is caught
    rules = open(RULES).read()
    assert "groundwork_cert_expiry_seconds < 7 * 86400\n" in rules
    (tmp_path / "rules.yml").write_text(rules.replace("groundwork_cert_expiry_seconds < 7 * 86400\n",
                                                      "groundwork_cert_expiry_seconds < 2 * 86400\n"))
    tests = yaml.safe_load(open(TESTS))
    tests["rule_files"] = [str(tmp_path / "rules.yml")]
    (tmp_path / "t.yml").write_text(yaml.safe_dump(tests))
    out = subprocess.run([promtool, "test", "rules", "t.yml"], cwd=str(tmp_path), capture_output=True, text=True, check=False)
    assert out.returncode != 0 and "GroundworkCertificateExpiresCritical" in out.stdout + out.stderr


def test_rules_cover_every_issue_alert():
    names = {r["alert"] for g in yaml.safe_load(open(RULES))["groups"] for r in g["rules"]}
    # issue 19: cert < 30 d / < 7 d, backup older than 2 intervals, verification failed, etcd member down, DB near quota
    assert {"GroundworkCertificateExpiresSoon", "GroundworkCertificateExpiresCritical", "GroundworkEtcdBackupStale",
            "GroundworkEtcdBackupVerificationFailed", "GroundworkEtcdMemberDown",
            "GroundworkEtcdDatabaseNearQuota"} <= names
