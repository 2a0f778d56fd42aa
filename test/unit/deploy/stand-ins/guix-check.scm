;;; Loads deploy/guix/buildmesh.scm against the stand-ins and prints, as one JSON object, what
;;; it declares: for test/unit/deploy/guix.test.ts.
;;; Usage: guile --no-auto-compile guix-check.scm BUILDMESH.SCM NPM-TREE MACHINES-DIR
;;; MACHINES-DIR holds the files to run the generated machines.scm on: valid.scm, tampered.scm.

(use-modules (ice-9 match) (srfi srfi-1))

(define-values (buildmesh.scm npm-tree machines-dir)
  (match (command-line) ((_ a b c) (values a b c))))

(load (string-append (dirname (current-filename)) "/guix.scm"))
(load buildmesh.scm)

(define buildmesh (resolve-interface '(buildmesh)))
(define (exported name) (module-ref buildmesh name))

(define (->json value)
  (cond ((eq? value #t) "true")
        ((eq? value #f) "false")
        ((null? value) "[]")
        ((string? value) (with-output-to-string (lambda () (write value))))
        ((symbol? value) (->json (symbol->string value)))
        ((keyword? value) (->json (symbol->string (keyword->symbol value))))
        ((number? value) (number->string value))
        ((and (pair? value) (every (lambda (e) (and (pair? e) (symbol? (car e)))) value))
         (string-append "{" (string-join (map (lambda (e) (string-append (->json (car e)) ":" (->json (cdr e)))) value) ",") "}"))
        ((list? value) (string-append "[" (string-join (map ->json value) ",") "]"))
        (else (->json (object->string value)))))

(define (field record name) (assq-ref (cdr record) name))

(define (find-form pred datum)
  (cond ((pred datum) datum)
        ((pair? datum) (or (find-form pred (car datum)) (find-form pred (cdr datum))))
        (else #f)))

(define (replace-string old new datum)
  (cond ((equal? datum old) new)
        ((pair? datum) (cons (replace-string old new (car datum)) (replace-string old new (cdr datum))))
        (else datum)))

(define package ((exported 'buildmesh-package) npm-tree))

;; The record's constructor is a macro: use it where it is defined.
(define (configuration . fields)
  (eval `(buildmesh-configuration (package ',package) ,@fields) (resolve-module '(buildmesh))))

(define (service-facts config)
  (define extensions (field (exported 'buildmesh-service-type) 'extensions))
  (define (extend target) ((third (find (lambda (e) (eq? (second e) target)) extensions)) config))
  (define shepherd (car (extend 'shepherd-root)))
  (define start (field shepherd 'start))
  (define constructor (find-form (lambda (d) (and (pair? d) (eq? (car d) 'make-forkexec-constructor))) start))
  (define account (find (lambda (a) (eq? (car a) 'user-account)) (extend 'account)))
  `((targets . ,(map second extensions))
    (provision . ,(field shepherd 'provision))
    (requirement . ,(field shepherd 'requirement))
    (command . ,(cdr (second constructor)))
    (options . ,(let loop ((rest (cddr constructor)))
                  (match rest
                    (((? keyword? k) v . more) (cons (cons (keyword->symbol k) v) (loop more)))
                    (() '()))))
    (account . ((name . ,(field account 'name))
                (system . ,(field account 'system?))
                (home . ,(field account 'home-directory))
                (shell . ,(field account 'shell))))
    (etc . ,(map car (extend 'etc)))
    (activation . ,(object->string (extend 'activation)))))

;; Runs the generated machines.scm as `guix offload` does: loaded in a module that has
;; build-machine, here a stand-in that keeps the fields.
(define (run-machines file)
  (define code (replace-string "/var/lib/buildmesh/guix-machines.scm" file
                               (field (exported '%buildmesh-guix-machines) 'gexp)))
  (define offload (make-fresh-user-module))
  (eval '(use-modules (stand-in records)) offload)
  (eval '(define-tagged-record build-machine) offload)
  (save-module-excursion
   (lambda ()
     (set-current-module offload)
     (eval code offload))))

(display
 (->json
  `((exports . ,(sort (module-map (lambda (name _) name) buildmesh)
                      (lambda (a b) (string<? (symbol->string a) (symbol->string b)))))
    (package . ((name . ,(field package 'name))
                (version . ,(field package 'version))
                (source . ,(cdr (field package 'source)))
                (buildSystem . ,(field package 'build-system))
                (inputs . ,(map (lambda (p) (field p 'name)) (field package 'inputs)))
                (arguments . ,(object->string (field package 'arguments)))))
    (builder . ,(service-facts (configuration)))
    (master . ,(service-facts (configuration '(master? #t) '(builder? #f) '(p2p-port 4800)
                                             '(extra-options '("--slots" "2")))))
    (machineFile . ,(field (exported '%buildmesh-guix-machines) 'name))
    (machines . ,(map cdr (run-machines (string-append machines-dir "/valid.scm"))))
    (tampered . ,(run-machines (string-append machines-dir "/tampered.scm")))
    (missing . ,(run-machines (string-append machines-dir "/missing.scm")))
    (sshd . ,((exported 'buildmesh-sshd-extra-content))))))
(newline)
