import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const root = new URL('../../', import.meta.url)

export interface Exit {
  code: number
  stdout: string
  stderr: string
}

/** The Data Action CLI in a process of its own, straight from the sources: its real stdout, stderr and exit code. */
export function cli (...args: string[]): Promise<Exit> {
  return promisify(execFile)(process.execPath, ['--import', '@tapjs/typescript/import', 'src/data-action/cli.ts', ...args], { cwd: root }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: Exit) => e
  )
}
