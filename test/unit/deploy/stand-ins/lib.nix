# A stand-in for the parts of nixpkgs' lib that deploy/nix uses, so that the tests evaluate the
# real files without nixpkgs. Options are plain attribute sets and types are their names; mkIf,
# mkMerge and mkAfter leave markers that resolve (below) turns into what NixOS would merge.
let
  inherit (builtins) all attrNames concatStringsSep filter foldl' hasAttr isAttrs isList isString listToAttrs map mapAttrs match pathExists removeAttrs replaceStrings toJSON;

  escapeShellArg = arg: if match "[[:alnum:],._+:@%/-]+" arg == null then "'${replaceStrings [ "'" ] [ "'\\''" ] arg}'" else arg;

  merge = a: b:
    if a == null then b
    else if b == null then a
    else if isAttrs a && isAttrs b then a // mapAttrs (n: bv: if hasAttr n a then merge a.${n} bv else bv) b
    else if isList a && isList b then a ++ b
    # types.lines
    else if isString a && isString b then a + b
    else throw "conflicting definitions: ${toJSON a} and ${toJSON b}";
in
rec {
  mkOption = declaration: declaration // { _type = "option"; };
  mkEnableOption = what: mkOption { type = types.bool; default = false; description = "Whether to enable ${what}."; };
  literalExpression = text: { _type = "literalExpression"; inherit text; };
  types = { bool = "bool"; str = "str"; port = "port"; package = "package"; };

  mkIf = condition: content: { _type = "if"; inherit condition content; };
  mkMerge = contents: { _type = "merge"; inherit contents; };
  mkAfter = content: { _type = "order"; priority = 1500; inherit content; };

  optional = condition: x: if condition then [ x ] else [ ];
  escapeShellArgs = args: concatStringsSep " " (map escapeShellArg args);
  genAttrs = names: f: listToAttrs (map (name: { inherit name; value = f name; }) names);
  importJSON = path: builtins.fromJSON (builtins.readFile path);

  fileset = {
    unions = paths: assert all pathExists paths; paths;
    toSource = { root, fileset }: { inherit root fileset; outPath = "/nix/store/00000000000000000000000000000000-source"; };
  };
  licenses.mit = "mit";
  platforms.linux = [ "x86_64-linux" "aarch64-linux" ];

  # Definitions as NixOS merges them: false mkIfs dropped, mkMerge'd sets merged (lists
  # concatenated, lines joined), orders ignored.
  resolve = v:
    if isAttrs v && v ? _type then
      (if v._type == "if" then (if v.condition then resolve v.content else null)
       else if v._type == "merge" then foldl' merge null (map resolve v.contents)
       else resolve v.content)
    else if isAttrs v then
      let resolved = mapAttrs (_: resolve) v;
      in removeAttrs resolved (filter (n: resolved.${n} == null) (attrNames resolved))
    else v;
}
