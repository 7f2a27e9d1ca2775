#!/usr/bin/env bash
# Part drdrill (issue 15, on the single cluster: GW_SCENARIO_PARTS=single,drdrill): the mirror host becomes the
# backup host (site.yml installs the backups), then the DR drill of part drguard (drg_drill): a Secret written,
# backup.yml, dr_drill.yml restores the newest bundle into a throwaway etcd on the backup host, counts keys, decrypts
# the Secret with the bundled encryption configuration (sha256 of its value = what was written), metrics 1 + keys;
# a wrong key fails the drill, metrics 0 with the last success time kept. The HA-only checks are in part drguard.
# shellcheck disable=SC2154  # WORK, CLUSTER: set by run.sh
part_drdrill() {
  [ "$CLUSTER" = single ] || [ "$CLUSTER" = ha ] || { fail "drdrill: needs a real cluster"; return 1; }
  if [ "$CLUSTER" = single ]; then
    single_backup_host drdrill || return 1
  fi
  drg_drill
}
