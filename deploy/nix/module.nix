# services.buildmesh: the buildmesh agent on NixOS (see README.md, "Install").
#
# Who the agent runs as. On a builder, masters log in over SSH as the build user, and sshd reads
# the authorized_keys file the agent keeps, opening it as that user and refusing it unless it and
# every directory above it belong to root or that user and nobody else can write them
# (StrictModes). So a builder's agent runs as the build user itself, a static system user that
# owns /var/lib/buildmesh (0700) and the file in it. DynamicUser cannot do this: its state lives
# under /var/lib/private (0700 root), which sshd cannot traverse as the build user, and its user
# exists only while the service runs, while sshd needs it whenever a master logs in. A host that is
# only a master has no such reader: it gets DynamicUser, and nix-daemon, which reads the machines
# file and the SSH key it names, runs as root and reaches them through /var/lib/buildmesh.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  inherit (lib)
    mkAfter
    mkEnableOption
    mkIf
    mkMerge
    mkOption
    optional
    types
    ;
  cfg = config.services.buildmesh;
  settingsFormat = pkgs.formats.json { };

  stateDir = "/var/lib/buildmesh";
  # Where the agent writes them by default under its state directory.
  nixMachinesFile = "${stateDir}/nix-machines";
  authorizedKeysFile = "${stateDir}/authorized_keys";
  # The default socket of a root `mesh peers`.
  socket = "/run/buildmesh/agent.sock";
  # A builder's agent runs as the user masters log in as, since it advertises its own user; a
  # master-only one as a dynamic user, named after the service.
  user = if cfg.builder then cfg.buildUser else "buildmesh";

  args = [
    "agent"
    "--config"
    (settingsFormat.generate "buildmesh.json" cfg.settings)
    # systemd hands the agent a copy of the key it alone can read (LoadCredential).
    "--mesh-key"
    "%d/mesh.key"
    "--state-dir"
    stateDir
    "--socket"
    socket
    "--p2p-port"
    (toString cfg.p2pPort)
  ]
  ++ optional cfg.master "--master"
  ++ optional (!cfg.builder) "--no-builder";
in
{
  options.services.buildmesh = {
    enable = mkEnableOption "the buildmesh agent, which offers this host as a Nix and Guix builder on the LAN";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = lib.literalExpression "pkgs.callPackage ./package.nix { }";
      description = "The buildmesh package whose `mesh agent` runs.";
    };

    master = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Also discover the builders and keep this host's builder lists up to date, and point
        Nix's `builders` at the Nix one (${nixMachinesFile}).
      '';
    };

    builder = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Offer this host as a builder: masters log in as {option}`buildUser` over SSH, so this
        needs {option}`services.openssh.enable`. False passes `--no-builder`.
      '';
    };

    buildUser = mkOption {
      type = types.str;
      default = "buildmesh";
      description = "System user masters log in as to build here; the agent runs as this user on a builder.";
    };

    meshKeyFile = mkOption {
      # A string, not a path: a path would copy the secret into the world-readable store.
      type = types.str;
      default = "/etc/buildmesh/mesh.key";
      description = ''
        The shared mesh key (`mesh key generate FILE` on one host, then the same file, mode 0600,
        on every host). It stays root's: systemd passes the agent a copy.
      '';
    };

    p2pPort = mkOption {
      type = types.port;
      default = 4717;
      description = "TCP port for mesh connections (`--p2p-port`).";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = true;
      description = "Open UDP 5353 (mDNS) and {option}`p2pPort` (TCP): without them no host finds or reaches this one.";
    };

    useBuildHook = mkOption {
      type = types.bool;
      default = false;
      description = "On a master, make `mesh build-hook` Nix's build hook, so that it picks a builder for each build.";
    };

    settings = mkOption {
      type = settingsFormat.type;
      default = { };
      example = {
        slots = 4;
        features = [
          "kvm"
          "big-parallel"
        ];
      };
      description = ''
        Further options of `mesh agent`, written to its `--config` file under their camelCase
        names (see README.md, "Options of mesh agent"). The options above win over these.
      '';
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = [
        {
          assertion = !cfg.builder || config.services.openssh.enable;
          message = "services.buildmesh.builder needs services.openssh.enable: masters offload to builders over SSH.";
        }
        {
          assertion = !cfg.useBuildHook || cfg.master;
          message = "services.buildmesh.useBuildHook needs services.buildmesh.master: only a master picks builders.";
        }
      ];

      environment.systemPackages = [ cfg.package ];

      networking.firewall = mkIf cfg.openFirewall {
        allowedUDPPorts = [ 5353 ];
        allowedTCPPorts = [ cfg.p2pPort ];
      };

      systemd.services.buildmesh = {
        description = "buildmesh agent";
        wantedBy = [ "multi-user.target" ];
        wants = [ "network-online.target" ];
        after = [ "network-online.target" ];
        # The agent asks `nix` for this host's systems and features.
        path = [ config.nix.package ];
        serviceConfig = {
          ExecStart = "${cfg.package}/bin/mesh ${lib.escapeShellArgs args}";
          Restart = "on-failure";
          RestartSec = 5;
          User = user;
          Group = user;
          DynamicUser = !cfg.builder;
          StateDirectory = "buildmesh";
          StateDirectoryMode = "0700";
          RuntimeDirectory = "buildmesh";
          LoadCredential = "mesh.key:${cfg.meshKeyFile}";
          UMask = "0077";

          # mDNS (5353) and the mesh port are above 1024, and every file the agent writes is its
          # own: it needs no capability at all.
          CapabilityBoundingSet = "";
          AmbientCapabilities = "";
          NoNewPrivileges = true;
          # AF_NETLINK: the agent lists the interfaces' addresses for its mDNS records.
          RestrictAddressFamilies = [
            "AF_UNIX"
            "AF_INET"
            "AF_INET6"
            "AF_NETLINK"
          ];
          ProtectSystem = "strict";
          ProtectHome = true;
          PrivateTmp = true;
          PrivateDevices = true;
          PrivateMounts = true;
          ProtectKernelTunables = true;
          ProtectKernelModules = true;
          ProtectKernelLogs = true;
          ProtectControlGroups = true;
          ProtectClock = true;
          ProtectHostname = true;
          RestrictNamespaces = true;
          RestrictRealtime = true;
          RestrictSUIDSGID = true;
          LockPersonality = true;
          RemoveIPC = true;
          SystemCallArchitectures = "native";
          SystemCallFilter = [
            "@system-service"
            "~@privileged"
          ];
          # A call outside the list fails rather than killing the agent.
          SystemCallErrorNumber = "EPERM";
          # Not set, on purpose: MemoryDenyWriteExecute (V8 compiles JavaScript into executable
          # memory) and ProtectProc=invisible or ProcSubset=pid (the agent counts the builds in
          # progress from other users' processes and reads /proc/loadavg).
        };
      };
    }

    (mkIf cfg.builder {
      users.users.${cfg.buildUser} = {
        isSystemUser = true;
        group = cfg.buildUser;
        # sshd runs the forced `nix-daemon --stdio` through the user's shell.
        useDefaultShell = true;
        description = "buildmesh agent and remote builds";
      };
      users.groups.${cfg.buildUser} = { };

      # Builds from masters arrive as this user through `nix-daemon --stdio`; only trusted users
      # may hand the daemon derivations and store paths it has not signed.
      nix.settings.trusted-users = [ cfg.buildUser ];

      # Last, so that no sshd setting defined after it lands inside this Match block.
      services.openssh.extraConfig = mkAfter ''
        Match User ${cfg.buildUser}
          AuthorizedKeysFile ${authorizedKeysFile}
      '';
    })

    (mkIf cfg.master {
      # Without it NixOS sets `builders` to null itself.
      nix.distributedBuilds = true;
      nix.settings.builders = "@${nixMachinesFile}";
    })

    (mkIf (cfg.master && cfg.useBuildHook) {
      nix.settings.build-hook = [
        "${cfg.package}/bin/mesh"
        "build-hook"
      ];
    })
  ]);
}
