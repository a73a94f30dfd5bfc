import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { dist } from '../helpers/dist.ts'

const root = new URL('../../', import.meta.url)

export interface Exit {
  code: number
  stdout: string
  stderr: string
}

const cliCommand = dist('data-action/cli.js')

/** The Data Action CLI in a process of its own, compiled: its real stdout, stderr and exit code. */
export function cli (...args: string[]): Promise<Exit> {
  return cliWith({}, ...args)
}

/** The same, with these environment variables on top of the test's own. */
export function cliWith (env: Record<string, string>, ...args: string[]): Promise<Exit> {
  return promisify(execFile)(cliCommand[0]!, [...cliCommand.slice(1), ...args], { cwd: root, env: { ...process.env, ...env } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: Exit) => e
  )
}
