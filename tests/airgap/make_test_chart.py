# -*- coding: utf-8 -*-
# Copyright: Groundwork contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small Helm chart made by the test (the real lane's add-on): a Deployment of the pause image pinned by
digest and a ConfigMap of the values, so an install, an upgrade (new chart version / values) and a removal
are visible in the API. Deterministic (mtime 0): the same version gives the same sha256.

  python3 tests/airgap/make_test_chart.py OUT_DIR NAME VERSION IMAGE@DIGEST
"""

from __future__ import annotations

import gzip
import io
import sys
import tarfile

CHART = """apiVersion: v2
name: {name}
version: {version}
appVersion: "{version}"
description: Groundwork real-lane test add-on ({name} {version})
type: application
"""
VALUES = """image: {image}
replicas: 1
message: hello
"""
CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{{{ .Release.Name }}}}
  labels:
    app.kubernetes.io/name: {{{{ .Chart.Name }}}}
    helm.sh/chart: {{{{ .Chart.Name }}}}-{{{{ .Chart.Version }}}}
data:
  message: {{{{ .Values.message | quote }}}}
  chartVersion: {{{{ .Chart.Version | quote }}}}
"""
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{{{ .Release.Name }}}}
  labels:
    app.kubernetes.io/name: {{{{ .Chart.Name }}}}
    helm.sh/chart: {{{{ .Chart.Name }}}}-{{{{ .Chart.Version }}}}
spec:
  replicas: {{{{ .Values.replicas }}}}
  selector:
    matchLabels: {{app.kubernetes.io/instance: {{{{ .Release.Name }}}}}}
  template:
    metadata:
      labels: {{app.kubernetes.io/instance: {{{{ .Release.Name }}}}}}
    spec:
      containers:
        - name: pause
          image: {{{{ .Values.image }}}}
"""


def chart_bytes(name, version, image):
    files = {"Chart.yaml": CHART.format(name=name, version=version), "values.yaml": VALUES.format(image=image),
             "templates/configmap.yaml": CONFIGMAP.format(), "templates/deployment.yaml": DEPLOYMENT.format()}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(files):
            data = files[path].encode()
            ti = tarfile.TarInfo("%s/%s" % (name, path))
            ti.size, ti.mtime, ti.mode = len(data), 0, 0o644
            tar.addfile(ti, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), mtime=0)


def main():
    out, name, version, image = sys.argv[1:5]
    path = "%s/%s-%s.tgz" % (out, name, version)
    with open(path, "wb") as f:
        f.write(chart_bytes(name, version, image))
    print(path)


if __name__ == "__main__":
    main()
