import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  canConnect, createLan, listenMulticast, makeClientKey, runLocal, sendMulticast, startAvahi, startSshd, useLan, waitFor
} from './harness/index.ts'
import type { ClientKey, Sshd } from './harness/index.ts'
import { ownNetns } from './harness/naming.ts'

async function netnsOf (prefix: string): Promise<string[]> {
  return ownNetns(prefix, (await runLocal('ip', ['netns', 'list'])).stdout)
}

/** Zombies do not count: an orphan waits for the machine's init to reap it. */
function isAlive (pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

describe('a LAN of two hosts', () => {
  const lan = useLan({ hosts: ['a', 'b1'] })

  it('gives each host its own hostname and address', async () => {
    for (const host of lan.hosts) {
      expect((await host.run('hostname')).stdout.trim()).toBe(host.name)
    }
    expect(lan.host('a').address).toBe('10.77.0.1')
    expect(lan.host('b1').address).toBe('10.77.0.2')
  })

  it('gives each host its own /nix and /etc/nix, apart from the machine', async () => {
    const a = lan.host('a')
    const b1 = lan.host('b1')
    const marker = `/nix/store/harness-marker-${lan.prefix}`
    await a.sh(`mkdir -p /nix/store && echo mine > ${marker}`)
    expect(await readFile(a.pathOnMachine(marker), 'utf8')).toBe('mine\n')
    expect((await b1.run('test', ['-e', marker], { allowFailure: true })).code).toBe(1)
    expect(existsSync(marker)).toBe(false)
    expect((await b1.run('cat', ['/etc/nix/nix.conf'])).stdout).toContain('for host b1')
  })

  it('carries mDNS multicast across the bridge', async () => {
    const listener = await listenMulticast(lan.host('b1'))
    await sendMulticast(lan.host('a'), `hello ${lan.prefix}`)
    await listener.waitForOutput(`${lan.host('a').address} hello ${lan.prefix}`)
    listener.kill()
  })

  it('runs an independent mDNS stack (Avahi) in more than one host', async () => {
    const a = lan.host('a')
    const b1 = lan.host('b1')
    await Promise.all([startAvahi(a), startAvahi(b1)])
    const publisher = a.spawn('avahi-publish', ['-s', 'harness', '_bmharness._tcp', '4242', 'k=v'])
    await publisher.waitForOutput('Established under name')
    const seen = await waitFor(async () => {
      const { stdout } = await b1.run('avahi-browse', ['-rtp', '_bmharness._tcp'])
      return stdout.split('\n').find((line) => line.startsWith('=') && line.includes(';IPv4;'))
    }, { what: "a's service resolved by Avahi in b1" })
    expect(seen).toContain(`;a.local;${a.address};4242;"k=v"`)
    publisher.kill()
  })

  describe('with sshd in b1', () => {
    let sshd: Sshd
    let key: ClientKey

    beforeAll(async () => {
      key = await makeClientKey(join(lan.host('a').dir, 'keys'))
      sshd = await startSshd(lan.host('b1'), { authorizedKeys: [key.publicKey] })
    })

    it('cuts b1 off, unicast and multicast, while its cable is pulled', async () => {
      const a = lan.host('a')
      const listener = await listenMulticast(lan.host('b1'))
      expect(await canConnect(a, sshd.address, sshd.port)).toBe(true)

      await lan.cutLink('b1')
      expect(await canConnect(a, sshd.address, sshd.port, 500)).toBe(false)
      await sendMulticast(a, 'while cut')

      await lan.restoreLink('b1')
      await waitFor(async () => await canConnect(a, sshd.address, sshd.port), { what: 'b1 reachable after restoreLink' })
      await sendMulticast(a, 'after restore')
      await listener.waitForOutput('after restore')
      expect(listener.stdout()).not.toContain('while cut')
      listener.kill()
    })

    it('logs in over SSH with b1\'s host key pinned, and refuses a wrong one', async () => {
      const a = lan.host('a')
      const knownHosts = join(a.dir, 'known_hosts')
      const ssh = (file: string): Array<string> => [
        '-i', key.privateKeyFile, '-o', `UserKnownHostsFile=${file}`, '-o', 'StrictHostKeyChecking=yes',
        '-o', 'BatchMode=yes', `root@${sshd.address}`, 'hostname'
      ]
      await writeFile(knownHosts, `${sshd.knownHostsLine}\n`)
      expect((await a.run('ssh', ssh(knownHosts))).stdout.trim()).toBe('b1')

      const wrongHosts = join(a.dir, 'wrong_known_hosts')
      const other = await makeClientKey(join(a.dir, 'keys'), 'not_the_host_key')
      await writeFile(wrongHosts, `${sshd.address} ${other.publicKey}\n`)
      const refused = await a.run('ssh', ssh(wrongHosts), { allowFailure: true })
      expect(refused.code).not.toBe(0)
      expect(refused.stderr).toContain('Host key verification failed')
    })

    it('offloads a Nix build from a to b1 over ssh-ng and copies the output back', async () => {
      const a = lan.host('a')
      const b1 = lan.host('b1')
      const expression = join(lan.dir, 'where.nix')
      // Only shell builtins exist in the builder's PATH: read the hostname without cat.
      await writeFile(expression, 'derivation { name = "where"; system = "x86_64-linux"; builder = "/bin/sh"; ' +
        'args = [ "-c" "read h < /proc/sys/kernel/hostname; echo built on $h > $out" ]; }\n')
      const machines = join(a.dir, 'machines')
      await writeFile(machines, `ssh-ng://root@${sshd.address} x86_64-linux ${key.privateKeyFile} 1 1 - - ${sshd.hostKeyBase64}\n`)

      const build = await a.run('nix-build', [expression, '--no-out-link', '--max-jobs', '0', '--builders', `@${machines}`])
      const out = build.stdout.trim()
      expect(out).toMatch(/^\/nix\/store\/[a-z0-9]{32}-where$/)
      expect(build.stderr).toContain(`on 'ssh-ng://root@${sshd.address}'`)
      expect(await readFile(a.pathOnMachine(out), 'utf8')).toBe('built on b1\n')
      expect(existsSync(b1.pathOnMachine(out))).toBe(true)
      expect(existsSync(out)).toBe(false)
    })
  })
})

describe('useLan per test', () => {
  const lan = useLan({ hosts: ['solo'], per: 'test' })

  it('builds a fresh LAN for the test', async () => {
    expect((await lan.host('solo').run('hostname')).stdout.trim()).toBe('solo')
    expect(await netnsOf(lan.prefix)).toHaveLength(2)
  })
})

describe('teardown', () => {
  it('kills every process, removes namespaces and directory, and may be repeated', async () => {
    const lan = await createLan({ hosts: ['x', 'y'] })
    const sleeper = lan.host('x').spawn('sleep', ['600'])
    const stopped = lan.host('y').spawn('sleep', ['600'])
    stopped.kill('SIGSTOP')
    const holders = lan.hosts.map((host) => host.holder.pid)
    expect(await netnsOf(lan.prefix)).toHaveLength(3)

    await lan.close()
    await lan.close()
    expect(await netnsOf(lan.prefix)).toEqual([])
    expect(sleeper.exitStatus).toEqual({ code: null, signal: 'SIGKILL' })
    expect(stopped.exitStatus).toEqual({ code: null, signal: 'SIGKILL' })
    expect([sleeper.pid, stopped.pid, ...holders].filter(isAlive)).toEqual([])
    expect(existsSync(lan.dir)).toBe(false)
  })

  it('still happens when the process that built the LAN is killed', async () => {
    const lanModule = new URL('./harness/lan.ts', import.meta.url).href
    const script = `import { createLan } from '${lanModule}'
      const lan = await createLan({ hosts: ['k'] })
      const sleeper = lan.host('k').spawn('sleep', ['600'])
      const stopped = lan.host('k').spawn('sleep', ['600'])
      stopped.kill('SIGSTOP')
      process.stdout.write(JSON.stringify({ prefix: lan.prefix, dir: lan.dir, pids: [sleeper.pid, stopped.pid] }) + '\\n')
      setInterval(() => {}, 1000)`
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout.once('data', (data: Buffer) => { resolve(data.toString()) })
      child.once('exit', (code) => { reject(new Error(`LAN child exited early (code ${String(code)})`)) })
    })
    const built = JSON.parse(line) as { prefix: string, dir: string, pids: number[] }
    expect(await netnsOf(built.prefix)).toHaveLength(2)

    child.kill('SIGKILL')
    await waitFor(async () => (await netnsOf(built.prefix)).length === 0 && !existsSync(built.dir) && !built.pids.some(isAlive), {
      what: `the reaper to remove LAN ${built.prefix}`,
      timeoutMs: 5000
    })
  })
})

describe('waitFor', () => {
  it('names what it waited for and the last value when it times out', async () => {
    let calls = 0
    await expect(waitFor(() => { calls++; return calls > 1000 && 'never' }, { what: 'the impossible', timeoutMs: 200, intervalMs: 20 }))
      .rejects.toThrow(/timed out after 200 ms \(\d+ attempts\) waiting for the impossible; last value: false/)
  })

  it('returns the first truthy value, retrying through errors', async () => {
    let calls = 0
    const value = await waitFor(() => {
      calls++
      if (calls < 3) throw new Error('not yet')
      return { calls }
    }, { what: 'three calls', intervalMs: 10 })
    expect(value).toEqual({ calls: 3 })
  })
})
