// tap's `before`: compiles src/ to dist/ once per run, so the tests that start the service, the
// simulator or a CLI in a process of their own run the compiled output, as `npm start` and the
// image do, instead of compiling TypeScript again in every process (seconds of CPU each).
// Incremental: when nothing changed it writes nothing, so no test reads a file half-written.
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url))
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit', cwd: fileURLToPath(new URL('..', import.meta.url)) })
