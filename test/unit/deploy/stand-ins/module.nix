# deploy/nix/module.nix evaluated with the stand-in lib: its option declarations, and what it
# defines when its options are their defaults updated with `values`.
{ values ? { }, openssh ? true }:
let
  lib = import ./lib.nix;
  pkgs = {
    formats.json = { }: { type = "json"; generate = name: _: "/nix/store/00000000000000000000000000000000-${name}"; };
    callPackage = _: _: { outPath = "/nix/store/00000000000000000000000000000000-buildmesh"; };
  };
  module = import ../../../../deploy/nix/module.nix;
  evaluated = module { inherit lib pkgs config; };
  declared = evaluated.options.services.buildmesh;
  config = {
    services.buildmesh = builtins.mapAttrs (_: o: o.default) declared // values;
    services.openssh.enable = openssh;
    nix.package = "/nix/store/00000000000000000000000000000000-nix";
  };
in
{
  options = builtins.mapAttrs (_: o: {
    inherit (o) type;
    default = if o.type == "package" then o.defaultText.text else o.default;
    documented = o ? description;
  }) declared;
  config = let resolved = lib.resolve evaluated.config; in if resolved == null then { } else resolved;
}
