// `npm test`: every test file, with coverage held to the thresholds in package.json.
// `npm test -- test/some.test.ts …`: those files only. A few files cover a small part of
// src/, so their coverage is reported but not judged: they pass when their tests pass.
//
// Two files per CPU at a time, 16 at most (`-j N` overrides it): a file spends most of its time
// waiting on sockets, Redis and the processes it starts, and its tests wait for states, not
// lengths of time, so sharing a CPU slows a file down without changing what it sees. tap's own
// default leaves a CPU free on up to four, which on two cores runs one file at a time.
//
// TypeScript runs as Node 24 runs it, its types stripped, with no compiler in each test process:
// the code holds to erasable syntax (tsconfig's `erasableSyntaxOnly`) and imports `.ts` files.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { resolve } from 'node:path'

const args = process.argv.slice(2)
const someFiles = args.some((a) => !a.startsWith('-') && existsSync(a)) // a file or a folder, not an option's value
const jobs = args.some((a) => /^(-j|--jobs)/.test(a)) ? [] : [`--jobs=${Math.min(16, 2 * availableParallelism())}`]
// Each of the hundred test processes loads the same modules (tap, Fastify, the app): Node's
// compile cache keeps V8's compiled code on disk, so only the first to load a module compiles it.
// It cuts the suite's CPU by about a quarter, coverage included (docs/development.md).
const env = { NODE_COMPILE_CACHE: resolve('node_modules/.cache/node-compile-cache'), ...process.env, TAP_TYPE_STRIP_ONLY: '1' }
const { status, signal } = spawnSync('tap', [...jobs, ...(someFiles ? ['--allow-incomplete-coverage'] : []), ...args], { stdio: 'inherit', env }) // npm puts node_modules/.bin first on PATH
process.exitCode = status ?? (signal ? 1 : 0)
