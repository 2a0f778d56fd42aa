;;; buildmesh on Guix System: a package, a Shepherd service running the agent, and the
;;; /etc/guix/machines.scm that makes `guix offload` use the builder list it keeps.
;;; See README.md, "Install": `guix system reconfigure -L deploy/guix config.scm`.

(define-module (buildmesh)
  #:use-module (gnu packages bash)
  #:use-module (gnu packages node)
  #:use-module (gnu services)
  #:use-module (gnu services shepherd)
  #:use-module (gnu system accounts)
  #:use-module (gnu system shadow)
  #:use-module (guix build-system copy)
  #:use-module (guix gexp)
  #:use-module ((guix licenses) #:prefix license:)
  #:use-module (guix packages)
  #:use-module (guix records)
  #:use-module (ice-9 regex)
  #:use-module (ice-9 textual-ports)
  #:export (buildmesh-package
            buildmesh-configuration
            buildmesh-configuration?
            buildmesh-service-type
            buildmesh-sshd-extra-content
            %buildmesh-guix-machines))

(define %state-directory "/var/lib/buildmesh")
(define %runtime-directory "/run/buildmesh")

(define (npm-package-version tree)
  (let ((json (call-with-input-file (string-append tree "/package.json") get-string-all)))
    (match:substring (string-match "\"version\": *\"([^\"]+)\"" json) 1)))

(define (buildmesh-package tree)
  "Return buildmesh made from TREE, the directory that `npm install --global --prefix DIR
buildmesh-VERSION.tgz` leaves in DIR/lib/node_modules/buildmesh. Guix has no packages for
libp2p and the rest of buildmesh's npm dependencies, and a build cannot fetch them: that tree
holds them, beside the compiled JavaScript."
  (package
    (name "buildmesh")
    (version (npm-package-version tree))
    (source (local-file tree "buildmesh-npm-package" #:recursive? #t))
    (build-system copy-build-system)
    (arguments
     (list
      #:install-plan #~'(("." "lib/node_modules/buildmesh"))
      #:phases
      #~(modify-phases %standard-phases
          (add-after 'install 'install-command
            (lambda* (#:key inputs #:allow-other-keys)
              ;; The npm script starts with `#!/usr/bin/env node`, which Guix System lacks.
              (let ((mesh (string-append #$output "/bin/mesh")))
                (mkdir-p (dirname mesh))
                (call-with-output-file mesh
                  (lambda (port)
                    (format port "#!~a~%exec ~a ~a/lib/node_modules/buildmesh/bin/mesh.js \"$@\"~%"
                            (search-input-file inputs "/bin/sh")
                            (search-input-file inputs "/bin/node")
                            #$output)))
                (chmod mesh #o555)))))))
    ;; libp2p 3 needs Node.js 22 or later.
    (inputs (list bash-minimal node-lts))
    ;; Not published anywhere yet.
    (home-page #f)
    (synopsis "Distributed Nix and Guix builds on a LAN with no static builder list")
    (description
     "buildmesh turns a LAN of Nix or Guix machines into one build pool.  An agent on every
host advertises what it can build over mDNS; the agent on a master discovers, checks and ranks
its peers and keeps the builder lists that Nix and Guix read up to date.")
    (license license:expat)))

(define-record-type* <buildmesh-configuration>
  buildmesh-configuration make-buildmesh-configuration
  buildmesh-configuration?
  (package       buildmesh-configuration-package)       ;file-like: (buildmesh-package TREE)
  (master?       buildmesh-configuration-master?        ;discover builders, keep the lists
                 (default #f))
  (builder?      buildmesh-configuration-builder?       ;offer this host as a builder
                 (default #t))
  (build-user    buildmesh-configuration-build-user     ;who masters log in as
                 (default "buildmesh"))
  (mesh-key-file buildmesh-configuration-mesh-key-file  ;the shared mesh key, root's
                 (default "/etc/buildmesh/mesh.key"))
  (p2p-port      buildmesh-configuration-p2p-port
                 (default 4717))
  (extra-options buildmesh-configuration-extra-options  ;more `mesh agent` flags
                 (default '())))

;; The agent runs as the build user, the user masters log in as: sshd reads the authorized_keys
;; file the agent keeps for that user, opening it as that user, and accepts it only if it and
;; every directory above it belong to root or that user (StrictModes).
(define (buildmesh-accounts config)
  (let ((user (buildmesh-configuration-build-user config)))
    (list (user-group (name user) (system? #t))
          (user-account
           (name user)
           (group user)
           (system? #t)
           (comment "buildmesh agent and remote builds")
           (home-directory %state-directory)
           (create-home-directory? #f)
           ;; sshd runs the forced command through the user's shell.
           (shell (file-append bash "/bin/bash"))))))

(define (buildmesh-activation config)
  #~(let ((user (getpwnam #$(buildmesh-configuration-build-user config))))
      (unless (file-exists? #$%state-directory)
        (mkdir #$%state-directory))
      (chown #$%state-directory (passwd:uid user) (passwd:gid user))
      (chmod #$%state-directory #o700)))

(define (buildmesh-shepherd-service config)
  (let ((user (buildmesh-configuration-build-user config))
        (key (string-append %runtime-directory "/mesh.key")))
    (list
     (shepherd-service
      (provision '(buildmesh))
      (requirement '(user-processes networking))
      (documentation "Run the buildmesh agent.")
      (start
       #~(lambda _
           ;; As systemd's LoadCredential does: the key stays root's, and the agent reads a
           ;; copy made at each start in a directory that is its own.
           (let ((account (getpwnam #$user)))
             (unless (file-exists? #$%runtime-directory)
               (mkdir #$%runtime-directory))
             (chown #$%runtime-directory (passwd:uid account) (passwd:gid account))
             (copy-file #$(buildmesh-configuration-mesh-key-file config) #$key)
             (chown #$key (passwd:uid account) (passwd:gid account))
             (chmod #$key #o400))
           ((make-forkexec-constructor
             (list #$(file-append (buildmesh-configuration-package config) "/bin/mesh")
                   "agent"
                   "--mesh-key" #$key
                   "--state-dir" #$%state-directory
                   "--socket" #$(string-append %runtime-directory "/agent.sock")
                   "--p2p-port" #$(number->string (buildmesh-configuration-p2p-port config))
                   #$@(if (buildmesh-configuration-master? config) '("--master") '())
                   #$@(if (buildmesh-configuration-builder? config) '() '("--no-builder"))
                   #$@(buildmesh-configuration-extra-options config))
             #:user #$user
             #:group #$user
             #:log-file "/var/log/buildmesh.log"))))
      (stop #~(make-kill-destructor))))))

(define %buildmesh-guix-machines
  ;; /etc/guix/machines.scm, which `guix offload` loads as root for every offload request. It
  ;; reads the list the agent writes as data, and evaluates it only if it is build-machine forms
  ;; with literal fields: the agent's user chooses the machines but cannot run code as root.
  (scheme-file
   "machines.scm"
   #~(let ((file #$(string-append %state-directory "/guix-machines.scm"))
           (fields '(name port systems host-key user private-key parallel-builds speed
                     features overload-threshold)))
       (define (literal? value)
         (or (string? value)
             (number? value)
             (and (list? value) (pair? value) (eq? (car value) 'list)
                  (and-map string? (cdr value)))))
       (define (field? form)
         (and (list? form) (= (length form) 2) (memq (car form) fields)
              (literal? (cadr form))))
       (define (machine? form)
         (and (list? form) (pair? form) (eq? (car form) 'build-machine)
              (and-map field? (cdr form))))
       (if (file-exists? file)
           (let ((form (call-with-input-file file read)))
             (if (and (list? form) (pair? form) (eq? (car form) 'list)
                      (and-map machine? (cdr form)))
                 (eval form (current-module))
                 (begin
                   (format (current-error-port)
                           "~a is not a list of build-machine forms with literal fields: ignoring it~%"
                           file)
                   '())))
           '()))))

(define* (buildmesh-sshd-extra-content #:optional (user "buildmesh"))
  "Lines for the `extra-content` of an `openssh-configuration`, so that sshd reads the agent's
authorized_keys file for the build user USER."
  (string-append "Match User " user "\n"
                 "  AuthorizedKeysFile " %state-directory "/authorized_keys\n"))

(define buildmesh-service-type
  (service-type
   (name 'buildmesh)
   (extensions
    (list (service-extension shepherd-root-service-type buildmesh-shepherd-service)
          (service-extension account-service-type buildmesh-accounts)
          (service-extension activation-service-type buildmesh-activation)
          (service-extension etc-service-type
                             (lambda (config)
                               (if (buildmesh-configuration-master? config)
                                   `(("guix/machines.scm" ,%buildmesh-guix-machines))
                                   '())))))
   (description "Run the buildmesh agent, which offers this host as a builder on the LAN and,
on a master, keeps the list of builders that @command{guix offload} reads.")))
