import { pino, type Logger, type LevelWithSilent } from 'pino'

export type { Logger }

/** JSON lines on stderr, or pretty ones when a person is watching the terminal. */
export function createLogger (level: LevelWithSilent = 'info', pretty = process.stderr.isTTY === true): Logger {
  if (pretty) {
    return pino({
      level,
      transport: { target: 'pino-pretty', options: { destination: 2, colorize: true } }
    })
  }
  return pino({ level }, pino.destination({ dest: 2, sync: true }))
}
