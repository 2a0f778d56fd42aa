# At the root, not in deploy/nix: a flake is its directory, and the package is built from the
# whole checkout; here `nix build github:OWNER/buildmesh` and `inputs.buildmesh.url` need no `?dir=`.
{
  description = "buildmesh: distributed Nix and Guix builds on a LAN with no static builder list";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { nixpkgs, ... }:
    let
      forAllSystems = nixpkgs.lib.genAttrs [
        "x86_64-linux"
        "aarch64-linux"
      ];
    in
    {
      packages = forAllSystems (system: {
        default = nixpkgs.legacyPackages.${system}.callPackage ./deploy/nix/package.nix { };
      });

      # services.buildmesh; its package defaults to the host's nixpkgs building deploy/nix/package.nix.
      nixosModules.default = ./deploy/nix/module.nix;
    };
}
