#!/usr/bin/env bash
# Makes `mesh build-hook` the build hook of a master's Nix (install.sh --build-hook runs it; see
# README.md, "The build hook"). Nix 2.8's `build-hook` is one program path, so Nix runs a wrapper;
# a nix.conf that already names a build hook is left as it is. Run it again at will.
set -euo pipefail

usage="Usage: deploy/use-build-hook.sh MESH HOOK NIX_CONF

  MESH      the mesh command, e.g. /usr/local/bin/mesh
  HOOK      where to write the wrapper Nix runs, e.g. /usr/local/libexec/buildmesh/build-hook
  NIX_CONF  the nix.conf to name it in, e.g. /etc/nix/nix.conf"

case ${1:-} in -h|--help) echo "$usage"; exit 0 ;; esac
[ $# -eq 3 ] || { echo "$usage" >&2; exit 2; }
mesh=$1 hook=$2 conf=$3
fail() { echo "use-build-hook.sh: $*" >&2; exit 1; }
nix=$(command -v nix) || fail "no nix on PATH: Nix's own hook (nix, run as build-remote) must be there to fall back on"

# Without buildmesh (uninstalled, or not yet upgraded), Nix's own hook answers, so builds go on
# as if the wrapper were not there; `mesh build-hook` itself falls back to it when the agent is down.
install -d -m 0755 "$(dirname "$hook")"
tmp=$(mktemp "$hook.XXXXXX")
trap 'rm -f "$tmp"' EXIT
{
  echo '#!/bin/bash'
  echo "# Nix's build hook on this buildmesh master, written by deploy/use-build-hook.sh."
  printf '[ -x %q ] && exec %q build-hook "$@"\n' "$mesh" "$mesh"
  printf 'exec -a build-remote %q "$@"\n' "$nix"
} >"$tmp"
chmod 0755 "$tmp"
mv "$tmp" "$hook"

if grep -qs '^[[:space:]]*build-hook[[:space:]]*=' "$conf"; then
  grep -qs "^build-hook = $hook\$" "$conf" ||
    echo "use-build-hook.sh: $conf already names a build hook; for buildmesh's, make it: build-hook = $hook"
else
  echo "build-hook = $hook" >>"$conf"
fi
