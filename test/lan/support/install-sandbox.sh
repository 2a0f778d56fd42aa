#!/usr/bin/env bash
# Runs a command as in a fresh system of its own: in a private mount namespace where /etc,
# /usr/local and /var/lib are overlays whose changes go to SANDBOX/upper/{etc,usr-local,var-lib},
# /run is empty, and systemctl only writes its arguments to SANDBOX/systemctl.log, since no
# systemd runs here. Nothing the command writes there reaches the machine.
# Usage: install-sandbox.sh SANDBOX COMMAND [ARGS...]
set -euo pipefail
sandbox=$1
shift
mkdir -p "$sandbox/bin"
printf '#!/bin/sh\necho "$*" >>%q\n' "$sandbox/systemctl.log" >"$sandbox/bin/systemctl"
chmod 0755 "$sandbox/bin/systemctl"
for dir in etc usr-local var-lib; do mkdir -p "$sandbox/upper/$dir" "$sandbox/work/$dir"; done
exec unshare -m --propagation private -- bash -euo pipefail -c '
  sandbox=$1; shift
  mount -t overlay overlay -o "lowerdir=/etc,upperdir=$sandbox/upper/etc,workdir=$sandbox/work/etc" /etc
  mount -t overlay overlay -o "lowerdir=/usr/local,upperdir=$sandbox/upper/usr-local,workdir=$sandbox/work/usr-local" /usr/local
  mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$sandbox/upper/var-lib,workdir=$sandbox/work/var-lib" /var/lib
  mount -t tmpfs tmpfs /run
  # A system with sshd has its host keys and privilege separation directory, which sshd -t checks.
  ssh-keygen -A >/dev/null
  mkdir -m 0755 /run/sshd
  PATH=$sandbox/bin:$PATH exec "$@"
' sandbox "$sandbox" "$@"
