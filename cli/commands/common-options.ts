import type { OptionSpec } from '../options.ts'

export const socketOption: OptionSpec = {
  flag: 'socket', kind: 'string', arg: 'PATH', env: 'BUILDMESH_SOCKET',
  help: 'the agent\'s control socket', defaultText: '/run/buildmesh/agent.sock as root'
}
