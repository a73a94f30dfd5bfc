// `npm test`: every test file, with coverage held to the thresholds in package.json.
// `npm test -- test/some.test.ts …`: those files only. A few files cover a small part of
// src/, so their coverage is reported but not judged: they pass when their tests pass.
//
// Two files per CPU at a time (`-j N` overrides it): a file spends most of its time waiting on
// sockets, Redis and the processes it starts, and its tests wait for states, not lengths of time,
// so sharing a CPU slows a file down without changing what it sees. tap's own default leaves a
// CPU free, which on two cores runs one file at a time.
//
// TypeScript runs as Node 24 runs it, its types stripped, with no compiler in each test process:
// the code holds to erasable syntax (tsconfig's `erasableSyntaxOnly`) and imports `.ts` files.
import { spawnSync } from 'node:child_process'
import { availableParallelism } from 'node:os'

const args = process.argv.slice(2)
const someFiles = args.some((a) => !a.startsWith('-') && /\.[cm]?[jt]s$/.test(a))
const jobs = args.some((a) => /^(-j|--jobs)/.test(a)) ? [] : [`--jobs=${2 * availableParallelism()}`]
const env = { ...process.env, TAP_TYPE_STRIP_ONLY: '1' }
const { status, signal } = spawnSync('tap', [...jobs, ...(someFiles ? ['--allow-incomplete-coverage'] : []), ...args], { stdio: 'inherit', env }) // npm puts node_modules/.bin first on PATH
process.exitCode = status ?? (signal ? 1 : 0)
