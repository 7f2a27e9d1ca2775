# shellcheck shell=bash
# Part ownhosts (issue 16): a new user's way onto their own hosts, on the real cluster that is up.
#   - the collection is built (ansible-galaxy collection build) and installed from the tarball into an
#     empty path (--no-deps: the dependencies come with the "ansible" package; Galaxy is not reachable);
#   - site.yml runs as groundwork.k8s.site from an empty directory: none of the repository's ansible.cfg,
#     no .collections link, no ANSIBLE_HOST_KEY_CHECKING override;
#   - host keys are CHECKED: the inventory is the lab's without its "no checking" ssh args, with the hosts'
#     real keys in a known_hosts file (tests/lab/lab writes it). First with an empty known_hosts: every
#     host must be refused (Host key verification failed), nothing runs. Then with the real keys:
#     site.yml converges the installed cluster with changed=0.
part_ownhosts() {
  local d=$WORK/newuser t
  rm -rf "$d"; mkdir -p "$d/collections" "$d/empty"
  t=$SECONDS
  if ! ansible-galaxy collection build --force --output-path "$d" "$ROOT" >"$d/build.log" 2>&1; then
    fail "ownhosts: ansible-galaxy collection build"; tail -5 "$d/build.log"; return 1; fi
  # --force: ansible-galaxy says "Nothing to do" when the same version is installed in any configured path
  # (~/.ansible/collections of this machine had one), and would leave the empty path empty
  if ! ansible-galaxy collection install --force --no-deps -p "$d/collections" "$d"/groundwork-k8s-*.tar.gz >"$d/install.log" 2>&1; then
    fail "ownhosts: ansible-galaxy collection install of the tarball"; tail -5 "$d/install.log"; return 1; fi
  check "ownhosts: the tarball installed the playbooks and roles" \
    test -f "$d/collections/ansible_collections/groundwork/k8s/playbooks/site.yml" -a -d "$d/collections/ansible_collections/groundwork/k8s/roles/control_plane"
  mark "ownhosts-build-install" "$t"
  # the lab inventory minus its "do not check host keys" args, plus the known_hosts file to check against
  sed '/ansible_ssh_common_args/d' "$INV" > "$d/hosts.yml"
  : > "$d/known_hosts.empty"
  cp "$(dirname "$INV")/known_hosts" "$d/known_hosts"
  # each run with its own ssh ControlPath dir: the lab's runs just before leave ControlPersist masters to the same
  # hosts, which ssh reuses without checking any host key (the first run of this part "passed" with no key known)
  newuser_play() { # known_hosts file -> rc; output in $OUT / $WORK/last.log
    local rc
    # shellcheck disable=SC2016  # $1/$@ are the inner bash -c script's own arguments
    OUT=$(ctl env -u ANSIBLE_CONFIG -u ANSIBLE_HOST_KEY_CHECKING -u ANSIBLE_COLLECTIONS_PATH \
      ANSIBLE_COLLECTIONS_PATH="$d/collections" ANSIBLE_SSH_COMMON_ARGS="-o UserKnownHostsFile=$1" \
      ANSIBLE_SSH_CONTROL_PATH_DIR="$d/cp-$(basename "$1")" \
      bash -c 'cd "$1" && shift && exec ansible-playbook "$@"' _ "$d/empty" \
      -i "$d/hosts.yml" -i "$WORK/groups.yml" -e "@$WORK/vars.yml" groundwork.k8s.site 2>&1); rc=$?
    printf '%s\n' "$OUT" > "$WORK/last.log"
    return $rc
  }
  t=$SECONDS
  if newuser_play "$d/known_hosts.empty"; then fail "ownhosts: site.yml ran although no host key was known"
  else
    check "ownhosts: unknown host keys refused (Host key verification failed)" grep -q "Host key verification failed" "$WORK/last.log"
    check "ownhosts: nothing ran on any host (every host unreachable in the first play)" \
      test "$(grep -c 'changed=[1-9]' "$WORK/last.log")" -eq 0
  fi
  mark "ownhosts-refused" "$t"; t=$SECONDS
  if newuser_play "$d/known_hosts"; then
    mark "ownhosts-site.yml" "$t"
    log "ownhosts: groundwork.k8s.site from the installed tarball, host keys checked: ok ($(( SECONDS - t ))s)"
    check "ownhosts: site.yml from the installed collection changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]
  else
    fail "ownhosts: site.yml from the installed collection with host keys checked"
    grep -B2 -A25 'fatal:\|FAILED!\|UNREACHABLE' "$WORK/last.log" | head -60
  fi
}
