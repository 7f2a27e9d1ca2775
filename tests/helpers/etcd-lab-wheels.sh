# shellcheck shell=bash
# The etcd labs' Python libraries for the PKI modules (sourced by tests/scenarios/20-etcd-drills and
# 25-etcd-upgrade): PyPI wheels downloaded once into the lab cache and unpacked on the hosts of group etcd
# before the playbooks. Needs WORK (the scenario's scratch directory).
WHEELS=${GW_LAB_CACHE:-/var/cache/groundwork-lab}/wheels-etcd
get_wheels() {
  { ls "$WHEELS"/cryptography-*.whl && ls "$WHEELS"/[Pp][Yy][Yy][Aa][Mm][Ll]-*.whl; } >/dev/null 2>&1 && return 0
  mkdir -p "$WHEELS"
  pip download -q --only-binary=:all: --python-version 3.11 --platform manylinux2014_x86_64 -d "$WHEELS" \
    "cryptography>=42,<44" pyyaml >/dev/null
}
# writes $WORK/prepare.yml, the play that puts the wheels on the etcd hosts; the scenario runs it its own way
write_prepare_play() {
  cat > "$WORK/prepare.yml" <<EOP
- name: Lab - Python libraries for the PKI modules
  hosts: etcd
  gather_facts: false
  tasks:
    - name: Copy the wheels
      ansible.builtin.copy:
        src: $WHEELS/
        dest: /root/wheels/
        mode: "0644"
    - name: Unpack the wheels
      ansible.builtin.shell: for w in /root/wheels/*.whl; do python3 -m zipfile -e "\$w" /usr/local/lib/python3.11/dist-packages/; done
      args:
        creates: /usr/local/lib/python3.11/dist-packages/cryptography
EOP
}
