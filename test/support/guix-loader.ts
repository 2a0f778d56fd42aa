/**
 * Stands in for Guix's `build-machine` record macro, for tests that load a machines.scm with
 * real Guile (`guile LOADER FILE`): each machine becomes an alist of its fields, printed as
 * JSON; inexact numbers as {"real": n}, so a test sees that Guile read a real where Guix wants one.
 */
export const GUIX_MACHINES_LOADER = String.raw`
(define-syntax build-machine
  (syntax-rules () ((_ (field value) ...) (list (cons 'field value) ...))))
(define (json-string s)
  (string-append "\""
    (apply string-append
      (map (lambda (c)
             (cond ((char=? c #\") "\\\"")
                   ((char=? c #\\) "\\\\")
                   ((< (char->integer c) 32) (format #f "\\u~4,'0x" (char->integer c)))
                   (else (string c))))
           (string->list s)))
    "\""))
(define (json x)
  (cond ((string? x) (json-string x))
        ((and (number? x) (exact? x)) (number->string x))
        ((number? x) (string-append "{\"real\":" (number->string x) "}"))
        ((eq? x #f) "false")
        ((and (pair? x) (pair? (car x)) (symbol? (caar x)))
         (string-append "{" (string-join (map (lambda (f) (string-append (json-string (symbol->string (car f))) ":" (json (cdr f)))) x) ",") "}"))
        ((list? x) (string-append "[" (string-join (map json x) ",") "]"))
        (else (error "unexpected value" x))))
(set-port-encoding! (current-output-port) "UTF-8")
(display (json (primitive-load (cadr (command-line)))))
`
