;;; Stand-ins for the Guix modules deploy/guix/buildmesh.scm uses, so that real Guile loads the
;;; real file without Guix. Records (package, service-type, shepherd-service, user-account, ...)
;;; become tagged association lists; a G-expression becomes the quasi-quoted datum it stands
;;; for, with #$ filled in, which is what the test inspects (and, for machines.scm, runs).

(define-module (guix gexp)
  #:export (file-append local-file scheme-file output))

(define (gexp->quasiquote form)
  (cond ((and (pair? form) (eq? (car form) 'ungexp)) (list 'unquote (cadr form)))
        ((and (pair? form) (eq? (car form) 'ungexp-splicing)) (list 'unquote-splicing (cadr form)))
        ((pair? form) (cons (gexp->quasiquote (car form)) (gexp->quasiquote (cdr form))))
        (else form)))

(read-hash-extend #\~ (lambda (chr port) (list 'quasiquote (gexp->quasiquote (read port)))))
(read-hash-extend #\$ (lambda (chr port)
                        (if (eqv? (peek-char port) #\@)
                            (begin (read-char port) (list 'ungexp-splicing (read port)))
                            (list 'ungexp (read port)))))

(define output "/gnu/store/00000000000000000000000000000000-output")
(define (store-path thing)
  (string-append "/gnu/store/00000000000000000000000000000000-" (assq-ref (cdr thing) 'name)))
(define (file-append thing suffix) (string-append (store-path thing) suffix))
(define* (local-file file #:optional name #:key recursive?)
  (list 'local-file (cons 'file file) (cons 'name name) (cons 'recursive? recursive?)))
(define (scheme-file name gexp) (list 'scheme-file (cons 'name name) (cons 'gexp gexp)))

(define-module (stand-in records)
  #:export-syntax (define-tagged-record))

(define-syntax define-tagged-record
  (syntax-rules ()
    ((_ tag)
     (define-syntax tag
       (syntax-rules ()
         ((_ (field value) (... ...)) (list 'tag (cons 'field value) (... ...))))))))

(define-module (guix records)
  #:use-module (srfi srfi-9)
  #:export-syntax (define-record-type*))

(define-syntax field-default
  (syntax-rules (default)
    ((_ (default value)) (lambda () value))
    ((_) #f)))

;; Fields given as (field value) in any order; a missing one takes its default or is an error.
(define-syntax define-record-type*
  (syntax-rules ()
    ((_ type name make predicate (field accessor spec ...) ...)
     (begin
       (define-record-type type (make field ...) predicate (field accessor) ...)
       (define defaults (list (cons 'field (field-default spec ...)) ...))
       (define (construct given)
         (apply make (map (lambda (entry)
                            (cond ((assq (car entry) given) => cdr)
                                  ((cdr entry) ((cdr entry)))
                                  (else (error "missing field" 'name (car entry)))))
                          defaults)))
       (define-syntax name
         (syntax-rules ()
           ((_ (f v) (... ...)) (construct (list (cons 'f v) (... ...))))))))))

(define-module (guix packages)
  #:use-module (stand-in records)
  #:export-syntax (package))
(define-tagged-record package)

(define-module (guix build-system copy)
  #:export (copy-build-system))
(define copy-build-system 'copy-build-system)

(define-module (guix licenses)
  #:export (expat))
(define expat 'expat)

(define-module (gnu packages bash)
  #:export (bash bash-minimal))
(define bash '(package (name . "bash")))
(define bash-minimal '(package (name . "bash-minimal")))

(define-module (gnu packages node)
  #:export (node-lts))
(define node-lts '(package (name . "node")))

(define-module (gnu services)
  #:use-module (stand-in records)
  #:export (service-extension activation-service-type etc-service-type)
  #:export-syntax (service-type))
(define-tagged-record service-type)
(define (service-extension target compute) (list 'service-extension target compute))
(define activation-service-type 'activation)
(define etc-service-type 'etc)

(define-module (gnu services shepherd)
  #:use-module (stand-in records)
  #:export (shepherd-root-service-type)
  #:export-syntax (shepherd-service))
(define-tagged-record shepherd-service)
(define shepherd-root-service-type 'shepherd-root)

(define-module (gnu system accounts)
  #:use-module (stand-in records)
  #:export-syntax (user-account user-group))
(define-tagged-record user-account)
(define-tagged-record user-group)

(define-module (gnu system shadow)
  #:export (account-service-type))
(define account-service-type 'account)
