import { spawn } from 'node:child_process'
import type { Socket } from 'node:net'

/*
 * Teardown lives in a small shell process outside the test process, started before anything
 * else. It waits on a pipe from the test process; the pipe yields a line when `close()` asks
 * for teardown, and end-of-file when the test process dies in any way (failure, SIGINT,
 * SIGTERM, even SIGKILL). Either way it kills every process inside the run's namespaces
 * (`ip netns pids` lists exactly those, daemons that forked away included), deletes the
 * namespaces (which removes the veths and bridge with them) and the run's directory.
 * Mounts die with the last process of each host's mount namespace.
 */
const SCRIPT = `
prefix="$1"; dir="$2"; keep="$3"
read -r _ignored
own() { ip netns list | while read -r name _rest; do case "$name" in "$prefix"-*) echo "$name";; esac; done; }
tries=0
while [ "$tries" -lt 100 ]; do
  alive=""
  for ns in $(own); do
    pids=$(ip netns pids "$ns")
    if [ -n "$pids" ]; then kill -9 $pids 2>/dev/null; alive=1; fi
  done
  [ -z "$alive" ] && break
  tries=$((tries + 1))
  sleep 0.05
done
for ns in $(own); do ip netns del "$ns"; done
[ "$keep" = yes ] || rm -rf -- "$dir"
[ -z "$(own)" ]
`

export interface Reaper {
  /** Tears the run down now and resolves when that is done (true if nothing was left). */
  reap: () => Promise<boolean>
}

export function startReaper (prefix: string, dir: string, keepDir: boolean): Reaper {
  const args = [prefix, dir, keepDir ? 'yes' : 'no']
  let watcher = spawnReaper(args)
  let reaping: Promise<boolean> | undefined
  return {
    reap: async () => {
      reaping ??= (async () => {
        // Someone killed the watcher: a fresh one does the same job.
        if (watcher.gone()) watcher = spawnReaper(args)
        return await watcher.reapNow()
      })()
      return await reaping
    }
  }
}

function spawnReaper (args: readonly string[]): { gone: () => boolean, reapNow: () => Promise<boolean> } {
  // detached: a Ctrl-C sent to the terminal's process group must not reach the reaper.
  const child = spawn('sh', ['-c', SCRIPT, 'buildmesh-lan-reaper', ...args], {
    cwd: '/',
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore']
  })
  // A test process that forgets close() must still be able to exit; the reaper cleans up then.
  child.unref()
  const pipe = child.stdin as Socket
  pipe.unref()
  pipe.on('error', () => {})
  let exited = false
  const done = new Promise<boolean>((resolve) => {
    child.once('exit', (code) => {
      exited = true
      resolve(code === 0)
    })
    child.once('error', () => {
      exited = true
      resolve(false)
    })
  })
  return {
    gone: () => exited,
    reapNow: async () => {
      child.ref()
      pipe.end('reap\n')
      return await done
    }
  }
}
