#!/usr/bin/env bash
# Part oidc (issue 19 part 1, on the real cluster that is up; single is enough): identity and access through the
# real kube-apiserver v1.33.
#   install   site.yml gave kube-apiserver --authentication-config and the /etc/kubernetes/authentication mount
#             (an empty jwt list: no issuer yet)
#   issuer    the test's own OIDC issuer: CA, serving cert and RS256 signing key made here (oidc_tool.py, python
#             cryptography), discovery document + JWKS served over HTTPS from the mirror host; a second issuer's
#             key for tokens nobody trusts
#   apply     playbooks/access.yml with groundwork_oidc_issuers (CA from a file on the controller), a custom
#             ClusterRole and a binding of group oidc:platform-admins: the API server picks the file up without a
#             restart (same container); tokens through kubectl --token against the real API server:
#             group platform-admins lists Nodes (whoami oidc:alice, oidc:platform-admins); no group -> 403;
#             expired -> 401; another issuer -> 401; right issuer but a foreign key -> 401; wrong audience -> 401;
#             a groups claim system:masters arrives as oidc:system:masters (the prefix)
#   rerun     access.yml again changed=0; --check --diff changed=0
#   bad       an http:// issuer is refused before anything changes (the file on cp1 unchanged)
#   prune     the binding taken out of the inventory -> gone after the run, alice 403; a hand-made binding
#             (no owner label) untouched; the issuer changed to groups_prefix "" -> the system:masters token 401
#             (userValidationRules); the issuer taken out -> alice 401, API server still not restarted
# Prints the reload latency (playbook end -> first accepted token).
# shellcheck disable=SC2154  # WORK, NAME, INV, CLUSTER, MIRROR_IP, ROOT, OUT: set by run.sh / lib.sh

OIDC_PORT=9443
oidc_tool() { "$ROOT/.venv/bin/python" "$ROOT/tests/scenarios/70-real/parts/oidc_tool.py" "$@"; }
oidc_cps() { if [ "$CLUSTER" = ha ]; then echo cp1 cp2 cp3; else echo cp1; fi; }
# kubectl with only a bearer token against HOST's own API server -> prints kubectl's output, returns its rc
oidc_kubectl() { # host token args...
  local h=$1 tok=$2; shift 2
  ssh_host "$h" -- "$(printf '%q ' kubectl --kubeconfig=/dev/null --server="https://$(host_addr "$h"):6443" \
    --certificate-authority=/etc/kubernetes/pki/ca.crt --token="$tok" "$@")" 2>&1
}
# HTTP status of GET /api/v1/nodes with TOKEN on HOST's API server, as kubectl reports it: 200, 401 or 403
oidc_status() { # host token
  local out
  out=$(oidc_kubectl "$1" "$2" get nodes -o name)
  case $out in
    *"must be logged in"*|*Unauthorized*) echo 401 ;;
    *Forbidden*|*forbidden*) echo 403 ;;
    node/*) echo 200 ;;
    *) echo "other: $(head -c 200 <<<"$out")" ;;
  esac
}
oidc_all_status() { # token want -> 0 when every control plane answers want
  local h; for h in $(oidc_cps); do [ "$(oidc_status "$h" "$1")" = "$2" ] || return 1; done
}
oidc_crb() { kc cp1 get clusterrolebinding "$1" >/dev/null 2>&1; }
oidc_no_crb() { ! oidc_crb "$1"; }
apiserver_container() { kc cp1 -n kube-system get pod "kube-apiserver-$1" -o jsonpath='{.metadata.uid} {.status.containerStatuses[0].containerID} {.status.containerStatuses[0].restartCount}'; }
oidc_vars() { # file issuers(yes|no) binding(yes|no)
  {
    echo "access_owner: lab-oidc"
    if [ "$2" = yes ]; then cat <<EOF
groundwork_oidc_issuers:
  - name: lab
    url: $OIDC_URL
    audiences: [kubernetes]
    ca_file: $WORK/oidc/ca.crt
    username_claim: sub
    username_prefix: "oidc:"
    groups_claim: groups
    groups_prefix: "oidc:"
EOF
    else echo "groundwork_oidc_issuers: []"; fi
    cat <<'EOF'
access_cluster_roles:
  - name: oidc-node-reader
    rules:
      - {apiGroups: [""], resources: [nodes], verbs: [get, list, watch]}
EOF
    if [ "$3" = yes ]; then cat <<'EOF'
access_bindings:
  - name: oidc-platform-admins
    cluster_role: oidc-node-reader
    groups: ["oidc:platform-admins"]
EOF
    else echo "access_bindings: []"; fi
  } > "$1"
}

part_oidc() {
  local t h before after tok_admin tok_plain tok_expired tok_other tok_forged tok_aud tok_masters who cfg_before
  [ -n "$CLUSTER" ] || { fail "oidc: needs a real cluster"; return 1; }

  # ---- install: the flag and the mount from site.yml, an empty jwt list
  for h in $(oidc_cps); do
    check "oidc: $h's kube-apiserver has --authentication-config from install" \
      ssh_host "$h" -- grep -q -- '--authentication-config=/etc/kubernetes/authentication/config.yaml' /etc/kubernetes/manifests/kube-apiserver.yaml
    check "oidc: $h's authentication directory is mounted read-only" \
      ssh_host "$h" -- "grep -q 'mountPath: /etc/kubernetes/authentication$' /etc/kubernetes/manifests/kube-apiserver.yaml"
  done
  check "oidc: cp1's authentication configuration has no issuer yet" \
    ssh_host cp1 -- "grep -qx 'jwt: \[\]' /etc/kubernetes/authentication/config.yaml"

  # ---- issuer: made here, served by the mirror host over HTTPS
  OIDC_URL=https://$MIRROR_IP:$OIDC_PORT
  rm -rf "$WORK/oidc" "$WORK/oidc-other"
  oidc_tool issuer "$WORK/oidc" "$OIDC_URL" || { fail "oidc: making the issuer"; return 1; }
  oidc_tool issuer "$WORK/oidc-other" "https://$MIRROR_IP:$((OIDC_PORT + 1))" || { fail "oidc: making the other issuer"; return 1; }
  ssh_host mirror -- "rm -rf /root/oidc && mkdir -p /root/oidc/www/.well-known && chmod 700 /root/oidc"
  for f in tls.crt tls.key www/jwks.json www/.well-known/openid-configuration; do
    ssh_host mirror -- "cat > /root/oidc/$f" < "$WORK/oidc/$f" || { fail "oidc: copying $f to the mirror"; return 1; }
  done
  ssh_host mirror -- "cat > /root/oidc_tool.py" < "$ROOT/tests/scenarios/70-real/parts/oidc_tool.py"
  ssh_host mirror -- systemctl stop gw-oidc-issuer >/dev/null 2>&1
  ssh_host mirror -- systemd-run --unit=gw-oidc-issuer --collect python3 /root/oidc_tool.py serve /root/oidc "$OIDC_PORT" >/dev/null 2>&1
  # the control plane reaches it with the test's CA (what kube-apiserver does)
  ssh_host cp1 -- "cat > /tmp/oidc-ca.crt" < "$WORK/oidc/ca.crt"
  check "oidc: cp1 fetches the discovery document with the test's CA" wait_for 30 \
    ssh_host cp1 -- "python3 -c \"import ssl, urllib.request, json, sys; d = json.load(urllib.request.urlopen('$OIDC_URL/.well-known/openid-configuration', context=ssl.create_default_context(cafile='/tmp/oidc-ca.crt'))); sys.exit(d['issuer'] != '$OIDC_URL')\""

  tok_admin=$(oidc_tool token "$WORK/oidc" "$OIDC_URL" kubernetes alice --groups platform-admins)
  tok_plain=$(oidc_tool token "$WORK/oidc" "$OIDC_URL" kubernetes dave)
  tok_expired=$(oidc_tool token "$WORK/oidc" "$OIDC_URL" kubernetes alice --groups platform-admins --exp -120)
  tok_other=$(oidc_tool token "$WORK/oidc-other" "https://$MIRROR_IP:$((OIDC_PORT + 1))" kubernetes alice --groups platform-admins)
  tok_forged=$(oidc_tool token "$WORK/oidc" "$OIDC_URL" kubernetes alice --groups platform-admins --key "$WORK/oidc-other")
  tok_aud=$(oidc_tool token "$WORK/oidc" "$OIDC_URL" other-cluster alice --groups platform-admins)
  tok_masters=$(oidc_tool token "$WORK/oidc" "$OIDC_URL" kubernetes mallory --groups 'platform-admins,system:masters')
  check "oidc: before the issuer is configured, alice's token is 401" oidc_all_status "$tok_admin" 401

  # ---- apply: issuer + RBAC from the inventory, no API server restart
  before=$(apiserver_container cp1)
  oidc_vars "$WORK/oidc-vars.yml" yes yes
  t=$SECONDS
  if play playbooks/access.yml -e "@$WORK/oidc-vars.yml"; then mark "oidc-access" "$t"; log "oidc: access.yml ok ($(( SECONDS - t ))s, changed=$(changed_sum))"
  else fail "oidc: access.yml"; grep -B2 -A25 'fatal:\|FAILED!' "$WORK/last.log" | head -60; return 1; fi
  t=$SECONDS
  if wait_for 180 oidc_all_status "$tok_admin" 200; then
    OIDC_RELOAD="$(( SECONDS - t ))s"; log "oidc: the API server(s) accepted the new issuer ${OIDC_RELOAD} after access.yml"
  else fail "oidc: alice (group platform-admins) cannot list Nodes within 180 s (last: $(oidc_status cp1 "$tok_admin"))"; fi
  after=$(apiserver_container cp1)
  check "oidc: kube-apiserver not restarted for the new issuer (before '$before', after '$after')" [ -n "$before" ] && [ "$before" = "$after" ]
  ssh_host cp1 -- kubectl --kubeconfig /etc/kubernetes/admin.conf get --raw /metrics 2>/dev/null | grep -E '^apiserver_authentication_config_controller' | head -8 | while read -r l; do log "oidc: metric $l"; done
  who=$(oidc_kubectl cp1 "$tok_admin" auth whoami -o jsonpath='{.status.userInfo.username} {.status.userInfo.groups}')
  log "oidc: alice's token authenticates as: $who"
  check "oidc: username and groups carry the oidc: prefixes (got '$who')" grep -q '^oidc:alice .*oidc:platform-admins' <<<"$who"
  check "oidc: alice lists Nodes (200)" oidc_all_status "$tok_admin" 200
  check "oidc: a token without the group is forbidden (got $(oidc_status cp1 "$tok_plain"))" oidc_all_status "$tok_plain" 403
  check "oidc: an expired token is rejected (got $(oidc_status cp1 "$tok_expired"))" oidc_all_status "$tok_expired" 401
  check "oidc: a token from another issuer is rejected (got $(oidc_status cp1 "$tok_other"))" oidc_all_status "$tok_other" 401
  check "oidc: a token of the issuer signed with a foreign key is rejected (got $(oidc_status cp1 "$tok_forged"))" oidc_all_status "$tok_forged" 401
  check "oidc: a token for another audience is rejected (got $(oidc_status cp1 "$tok_aud"))" oidc_all_status "$tok_aud" 401
  who=$(oidc_kubectl cp1 "$tok_masters" auth whoami -o jsonpath='{.status.userInfo.groups}')
  check "oidc: a groups claim system:masters arrives prefixed, never as system:masters (got $who)" \
    bash -c "grep -q 'oidc:system:masters' <<<'$who' && ! grep -q '\"system:masters\"' <<<'$who'"

  # ---- rerun: nothing to change
  t=$SECONDS
  if play playbooks/access.yml -e "@$WORK/oidc-vars.yml"; then mark "oidc-rerun" "$t"
    check "oidc: access.yml re-run changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]
  else fail "oidc: access.yml re-run"; fi
  if play playbooks/access.yml -e "@$WORK/oidc-vars.yml" --check --diff; then
    check "oidc: access.yml --check --diff changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]
  else fail "oidc: access.yml --check --diff"; fi

  # ---- user kubeconfig delivered to a host (the AWX way), and the listing
  if play playbooks/user_kubeconfig.yml -e user_kubeconfig_user=carol -e user_kubeconfig_groups=ops,auditors \
       -e user_kubeconfig_validity_hours=1 -e user_kubeconfig_deliver_host=cp1 -e user_kubeconfig_deliver_path=/root/carol.kubeconfig; then
    check "oidc: the delivered kubeconfig is 0600 on cp1" [ "$(ssh_host cp1 -- stat -c %a /root/carol.kubeconfig)" = 600 ]
    who=$(ssh_host cp1 -- "$(printf '%q ' kubectl --kubeconfig /root/carol.kubeconfig auth whoami -o jsonpath='{.status.userInfo.username} {.status.userInfo.groups}')" 2>&1)
    check "oidc: the delivered kubeconfig authenticates as carol in ops, auditors (got $who)" grep -q '^carol \["auditors","ops",' <<<"$who"
    check "oidc: the controller's copy is removed" [ ! -e /tmp/groundwork-kubeconfig-carol.conf ]
    check "oidc: the private key is not in the job output" bash -c "! grep -q 'PRIVATE KEY\|client-key-data' '$WORK/last.log'"
  else fail "oidc: user_kubeconfig.yml with delivery"; grep -B2 -A20 'fatal:\|FAILED!' "$WORK/last.log" | head -40; fi
  if play playbooks/user_kubeconfig.yml -e "@$WORK/oidc-vars.yml" -e user_kubeconfig_list=true; then
    check "oidc: the listing shows the binding" grep -q 'ClusterRoleBinding oidc-platform-admins -> ClusterRole oidc-node-reader: Group' "$WORK/last.log"
  else fail "oidc: user_kubeconfig.yml -e user_kubeconfig_list=true"; fi

  # ---- bad: refused before anything changes
  cfg_before=$(ssh_host cp1 -- sha256sum /etc/kubernetes/authentication/config.yaml)
  sed "s#url: $OIDC_URL#url: http://$MIRROR_IP:$OIDC_PORT#" "$WORK/oidc-vars.yml" > "$WORK/oidc-bad.yml"
  if play playbooks/access.yml -e "@$WORK/oidc-bad.yml"; then fail "oidc: an http:// issuer was accepted"
  else check "oidc: an http:// issuer is refused naming the variable" grep -q "groundwork_oidc_issuers\[0\] (lab).url 'http://$MIRROR_IP:$OIDC_PORT' must be an https:// URL" "$WORK/last.log"; fi
  check "oidc: the refused run changed no file on cp1" [ "$(ssh_host cp1 -- sha256sum /etc/kubernetes/authentication/config.yaml)" = "$cfg_before" ]

  # ---- prune: the binding leaves the inventory; a hand-made binding stays; then the issuer leaves
  kc cp1 create clusterrolebinding handmade-oidc-view --clusterrole=view --group=oidc:platform-admins >/dev/null
  oidc_vars "$WORK/oidc-vars.yml" yes no
  if play playbooks/access.yml -e "@$WORK/oidc-vars.yml"; then
    check "oidc: the binding left the inventory and is gone" oidc_no_crb oidc-platform-admins
    check "oidc: the hand-made binding without the owner label is untouched" oidc_crb handmade-oidc-view
    check "oidc: alice cannot list Nodes after the removal (got $(oidc_status cp1 "$tok_admin"))" wait_for 30 oidc_all_status "$tok_admin" 403
  else fail "oidc: access.yml without the binding"; fi
  if play playbooks/access.yml -e "@$WORK/oidc-vars.yml"; then
    check "oidc: re-run after the removal changed=0 (got $(changed_sum))" [ "$(changed_sum)" -eq 0 ]
  else fail "oidc: access.yml re-run after the removal"; fi
  # a changed issuer (no groups prefix) is reloaded too; then the userValidationRules are what keeps system:masters out
  sed 's/^    groups_prefix: "oidc:"/    groups_prefix: ""/' "$WORK/oidc-vars.yml" > "$WORK/oidc-noprefix.yml"
  if play playbooks/access.yml -e "@$WORK/oidc-noprefix.yml"; then
    t=$SECONDS
    if wait_for 180 oidc_all_status "$tok_masters" 401; then log "oidc: the changed issuer took effect after $(( SECONDS - t ))s"
    else fail "oidc: without a groups prefix a token claiming system:masters still gets $(oidc_status cp1 "$tok_masters") (want 401)"; fi
    who=$(oidc_kubectl cp1 "$tok_admin" auth whoami -o jsonpath='{.status.userInfo.groups}')
    check "oidc: without the prefix alice's group is platform-admins (got $who)" grep -q '"platform-admins"' <<<"$who"
  else fail "oidc: access.yml with groups_prefix \"\""; fi
  oidc_vars "$WORK/oidc-vars.yml" no no
  if play playbooks/access.yml -e "@$WORK/oidc-vars.yml"; then
    t=$SECONDS
    if wait_for 180 oidc_all_status "$tok_admin" 401; then log "oidc: the issuer's removal took effect after $(( SECONDS - t ))s"
    else fail "oidc: alice's token still authenticates 180 s after the issuer left the inventory"; fi
    after=$(apiserver_container cp1)
    check "oidc: kube-apiserver still not restarted (before '$before', after '$after')" [ "$before" = "$after" ]
  else fail "oidc: access.yml without the issuer"; fi
  kc cp1 delete clusterrolebinding handmade-oidc-view >/dev/null 2>&1
  ssh_host mirror -- systemctl stop gw-oidc-issuer >/dev/null 2>&1
  return 0
}
