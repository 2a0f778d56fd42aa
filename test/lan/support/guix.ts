import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Host } from '../harness/host.ts'

/**
 * Stands in for Guix's `build-machine` record macro, as in test/unit/scheduler/guix-machines:
 * each machine becomes an alist of its fields, printed as JSON; inexact numbers as
 * {"real": n}, so a test sees that Guile read a real where Guix wants one.
 */
const LOADER = String.raw`
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

export interface GuixMachine {
  name: string
  port: number
  systems: string[]
  'host-key': string
  user: string
  'private-key': string
  'parallel-builds': number
  speed: { real: number }
  features: string[]
  'overload-threshold': { real: number } | false
}

/** Loads a machines.scm with real Guile, in `host`, the way `guix offload` does (primitive-load). */
export async function loadGuixMachines (host: Host, file: string): Promise<GuixMachine[]> {
  const loader = join(host.dir, 'guix-loader.scm')
  await writeFile(loader, LOADER)
  const { stdout } = await host.run('guile', ['--no-auto-compile', '-s', loader, file], { timeoutMs: 30_000 })
  return JSON.parse(stdout) as GuixMachine[]
}
