# buildmesh as a Nix package: the compiled JavaScript of the npm package, its production
# dependencies and a `mesh` wrapper that runs it with nodejs_22 (libp2p 3 needs Node 22 or later).
{
  lib,
  buildNpmPackage,
  importNpmLock,
  nodejs_22,
}:

let
  root = ../..;
  # Only what the build reads: editing tests, docs or deploy files does not rebuild the package,
  # and a clone's node_modules never reaches the store.
  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions [
      (root + "/package.json")
      (root + "/package-lock.json")
      (root + "/tsconfig.json")
      (root + "/tsconfig.build.json")
      (root + "/bin")
      (root + "/agent")
      (root + "/cli")
      (root + "/common")
      (root + "/scheduler")
      (root + "/wire")
    ];
  };
in
buildNpmPackage {
  pname = "buildmesh";
  version = (lib.importJSON (root + "/package.json")).version;
  inherit src;
  nodejs = nodejs_22;

  # Dependencies fetched one by one from the integrity hashes in package-lock.json: no
  # npmDepsHash to keep in step with the lock file.
  npmDeps = importNpmLock { npmRoot = src; };
  npmConfigHook = importNpmLock.npmConfigHook;

  # The devDependency `node` downloads Node 24 in its install script, which a sandboxed build
  # cannot do (and nodejs_22 runs the build). ssh2 builds an optional native module the same way
  # and works without it. Scripts run by name (`npm run build`) still run.
  npmFlags = [ "--ignore-scripts" ];

  # tsc copies package.json, which common/version.ts imports, into dist/; during the build that
  # is importNpmLock's rewrite naming every dependency's tarball in the store, which would keep
  # them all alive. The original has the same version.
  postInstall = ''
    cp ${src}/package.json "$out/lib/node_modules/buildmesh/dist/package.json"
  '';

  meta = {
    description = "Distributed Nix and Guix builds on a LAN with no static builder list";
    license = lib.licenses.mit;
    mainProgram = "mesh";
    platforms = lib.platforms.linux;
  };
}
