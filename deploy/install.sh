#!/usr/bin/env bash
# Installs buildmesh on a distribution with systemd (see README.md, "Install"): the npm package,
# the build user, the systemd unit, sshd's and Nix's configuration. Run as root; running it again
# upgrades the package and the unit, and leaves the rest of the configuration alone.
set -euo pipefail

usage="Usage: deploy/install.sh [--master [--build-hook]] [--prefix DIR] [--node PATH] [TARBALL]

  --master       also discover the builders and point Nix (and Guix) at the lists the agent keeps
  --build-hook   on a master, make \`mesh build-hook\` Nix's build hook: the agent picks the
                 machine for each build, this host included
  --prefix DIR   where npm installs the package and the mesh command (default /usr/local)
  --node PATH    the Node.js (22 or later) that runs the agent (default: node on PATH)
  TARBALL        a package made by \`npm pack\` (default: pack this checkout, after \`npm ci\` if needed)"

master=false
build_hook=false
prefix=/usr/local
node=$(command -v node || true)
tarball=
while [ $# -gt 0 ]; do
  case $1 in
    --master) master=true ;;
    --build-hook) build_hook=true ;;
    --prefix) prefix=${2:?--prefix needs a directory}; shift ;;
    --node) node=${2:?--node needs a path}; shift ;;
    -h|--help) echo "$usage"; exit 0 ;;
    -*) echo "install.sh: unknown option $1" >&2; echo "$usage" >&2; exit 2 ;;
    *) tarball=$1 ;;
  esac
  shift
done

fail() { echo "install.sh: $*" >&2; exit 1; }
if $build_hook && ! $master; then echo "install.sh: --build-hook needs --master: only a master picks builders" >&2; exit 2; fi
[ "$(id -u)" -eq 0 ] || fail "run it as root: it creates a system user and writes to /etc"
command -v systemctl >/dev/null || fail "no systemctl: without systemd, run \`mesh agent\` under your init system"
[ -n "$node" ] && "$node" -e 'process.exit(+process.versions.node.split(".")[0] >= 22 ? 0 : 1)' 2>/dev/null ||
  fail "buildmesh needs Node.js 22 or later (libp2p 3); give one with --node PATH"
node=$(readlink -f "$node")
case $node in
  /home/*|/root/*) fail "$node is in a home directory, which the unit hides (ProtectHome): install Node.js 22 or later system-wide" ;;
esac

checkout=$(cd "$(dirname "$0")/.." && pwd)
user=buildmesh
state=/var/lib/buildmesh
etc=/etc/buildmesh

if [ -z "$tarball" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  [ -x "$checkout/node_modules/.bin/tsc" ] || (cd "$checkout" && npm ci --no-audit --no-fund)
  (cd "$checkout" && npm pack --pack-destination "$work" >/dev/null)
  tarball=$(echo "$work"/buildmesh-*.tgz)
fi
# npm would link `mesh` to a script that runs whichever `node` comes first on PATH; the unit and
# sshd sessions have a short PATH, and a distribution's own node may be older than 22. So `mesh`
# is a wrapper, which npm refuses to replace with its link on an upgrade unless it is gone.
rm -f "$prefix/bin/mesh"
npm install --global --prefix "$prefix" --no-audit --no-fund "$tarball"
rm -f "$prefix/bin/mesh"
printf '#!/bin/sh\nexec '\''%s'\'' '\''%s'\'' "$@"\n' "$node" "$prefix/lib/node_modules/buildmesh/bin/mesh.js" >"$prefix/bin/mesh"
chmod 0755 "$prefix/bin/mesh"

# The user masters log in as and the agent runs as; sshd runs its forced command through the shell.
id "$user" >/dev/null 2>&1 ||
  useradd --system --user-group --home-dir "$state" --no-create-home --shell /bin/sh \
    --comment "buildmesh agent and remote builds" "$user"

install -d -m 0755 "$etc"
[ -e "$etc/agent.json" ] || { if $master; then echo '{ "master": true }'; else echo '{}'; fi; } >"$etc/agent.json"
sed "s|/usr/local/bin/mesh|$prefix/bin/mesh|" "$checkout/deploy/systemd/buildmesh.service" >/etc/systemd/system/buildmesh.service
systemctl daemon-reload

# sshd must read the agent's authorized_keys for the build user, and find nix-daemon on PATH for
# the forced `nix-daemon --stdio` (a multi-user Nix install keeps it in its profile).
daemon_dir=$(dirname "$(command -v nix-daemon || echo /nix/var/nix/profiles/default/bin/nix-daemon)")
sshd_lines="Match User $user
  AuthorizedKeysFile $state/authorized_keys
  SetEnv PATH=$daemon_dir:/usr/local/bin:/usr/bin:/bin"
if grep -qs '^Include /etc/ssh/sshd_config.d/\*.conf' /etc/ssh/sshd_config; then
  # A Match block ends with the file that holds it, so this one leaves the rest of sshd_config alone.
  dropin=/etc/ssh/sshd_config.d/buildmesh.conf
  [ -e "$dropin" ] || echo "$sshd_lines" >"$dropin"
  sshd -t || { rm -f "$dropin"; fail "sshd rejects its configuration with $dropin; removed it"; }
  systemctl reload ssh.service 2>/dev/null || systemctl reload sshd.service 2>/dev/null || true
else
  echo "install.sh: add to the end of sshd_config, then reload sshd:"
  echo "$sshd_lines"
fi

# Builds from masters reach nix-daemon as the build user, which must be trusted to hand it
# derivations; a master's Nix reads the list the agent keeps.
if [ -f /etc/nix/nix.conf ]; then
  grep -qs "^extra-trusted-users = $user\$" /etc/nix/nix.conf || echo "extra-trusted-users = $user" >>/etc/nix/nix.conf
  if $master; then
    if grep -qs '^builders *=' /etc/nix/nix.conf; then
      echo "install.sh: /etc/nix/nix.conf already sets builders; for buildmesh's list make it: builders = @$state/nix-machines"
    else
      echo "builders = @$state/nix-machines" >>/etc/nix/nix.conf
    fi
    if $build_hook; then
      "$checkout/deploy/use-build-hook.sh" "$prefix/bin/mesh" "$prefix/libexec/buildmesh/build-hook" /etc/nix/nix.conf
    fi
  fi
  systemctl try-restart nix-daemon.service 2>/dev/null || true
fi
if $master && [ -d /etc/guix ] && [ ! -e /etc/guix/machines.scm ]; then
  ln -s "$state/guix-machines.scm" /etc/guix/machines.scm
fi

if [ -e "$etc/mesh.key" ]; then
  systemctl enable buildmesh.service
  systemctl restart buildmesh.service
  echo "buildmesh is running: \`mesh peers\` shows what it sees (the firewall must let in UDP 5353 and TCP 4717)."
else
  systemctl enable buildmesh.service
  echo "Next: copy the mesh key of your mesh to $etc/mesh.key (mode 0600), or make a new mesh with"
  echo "\`mesh key generate\`, then \`systemctl start buildmesh\` (the firewall must let in UDP 5353 and TCP 4717)."
fi
