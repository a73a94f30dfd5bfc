import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { cli } from './cli-process.ts'
import { dataAction } from '../../src/data-action/build.ts'
import type { Teardown } from '../helpers/stack.ts'
import { markedShell } from '../helpers/readme.ts'

const run = promisify(execFile)
const root = new URL('../../', import.meta.url)

async function tempDir (t: Teardown) {
  const dir = await mkdtemp(join(tmpdir(), 'data-action-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

t.test("the README's command writes a file that is JSON and nothing else", async (t) => {
  const command = (await markedShell('data-action-command')).trim()
  t.ok(command?.endsWith(' > action.json'), 'the README redirects to action.json')
  const file = join(await tempDir(t), 'action.json')
  // Exactly as written (npm builds, then runs the CLI), only the file lands outside the checkout.
  await run('sh', ['-c', command!.replace(/ > action\.json$/, ` > '${file}'`)], { cwd: root })
  const text = await readFile(file, 'utf8')
  t.same(JSON.parse(text), dataAction({ baseUrl: 'https://gateway.example.com', attributes: ['customer_tier', 'crm_id'], conversationOnly: true }))
})

t.test('--out writes the file and prints nothing on stdout', async (t) => {
  const file = join(await tempDir(t), 'action.json')
  const out = await cli('--base-url', 'https://gw.example.com', '--attributes', 'tier', '--out', file)
  t.equal(out.code, 0)
  t.equal(out.stdout, '')
  t.match(out.stderr, `wrote ${file}`)
  t.same(JSON.parse(await readFile(file, 'utf8')), dataAction({ baseUrl: 'https://gw.example.com', attributes: ['tier'] }))
  const bad = await cli('--base-url', 'https://gw.example.com', '--attributes', 'tier', '--out', join(file, 'no', 'such', 'dir.json'))
  t.equal(bad.code, 1, 'a file it cannot write is an error')
  t.match(bad.stderr, /^could not write .*dir\.json: /)
})

t.test('--help lists every option with its default and an example, and exits 0', async (t) => {
  for (const flag of ['--help', '-h']) {
    const help = await cli(flag)
    t.equal(help.code, 0)
    t.equal(help.stderr, '')
    for (const option of ['--base-url', '--attributes', '--conversation-only', '--timeout-seconds', '--credential-type', '--format', '--out', '--help']) t.match(help.stdout, option)
    t.match(help.stdout, /default 10/)
    t.match(help.stdout, /basicAuth \(default/)
    t.match(help.stdout, /\n {2}npm run -s data-action -- --base-url https:\/\/\S+ --attributes \S+/, 'an example to copy')
  }
})

t.test('mistakes are explained in sentences on stderr, with a non-zero exit and nothing on stdout', async (t) => {
  const cases: [string[], RegExp[]][] = [
    [[], [/^--base-url is required \(or set PUBLIC_URL\): where Genesys reaches this gateway, e\.g\. --base-url https:\/\/gateway\.example\.com$/m, /^--attributes is required: the attribute names the flow will send, comma-separated, e\.g\. --attributes customer_tier,crm_id$/m]],
    [['--base-url', 'https://gw.example.com', '--attributes'], [/^--attributes needs a value: the attribute names/m]],
    [['--base-url', '--attributes', 'tier'], [/^--base-url needs a value/m]],
    [['--bogus', '--base-url', 'https://gw.example.com', '--attributes', 'tier'], [/^--bogus is not an option of this command; --help lists them$/m]],
    [['--base-url', 'https://gw.example.com', '--attributes', 'tier', '--timeout-seconds', 'ten'], [/^--timeout-seconds: must be a whole number of seconds, 2 to 60 \(got "ten"\)$/m]],
    [['--base-url', 'https://gw.example.com', '--attributes', 'tier', '--timeout-seconds', '61'], [/^--timeout-seconds: must be at most 60 seconds/m]],
    [['--base-url', 'https://gw.example.com', '--attributes', 'tier', '--credential-type', 'oauth'], [/^--credential-type: must be basicAuth or userDefined \(got "oauth"\)$/m]],
    [['--base-url', 'https://gw.example.com', '--attributes', 'tier,conversationId'], [/^--attributes: must not be conversationId or participantId.* \(got "conversationId"\)$/m]],
  ]
  const outs = await Promise.all(cases.map(([args]) => cli(...args)))
  for (const [i, [args, messages]] of cases.entries()) {
    const out = outs[i]!
    t.equal(out.code, 2, args.join(' '))
    t.equal(out.stdout, '')
    for (const m of messages) t.match(out.stderr, m)
    t.notMatch(out.stderr, /Invalid input|expected \w+, received|Unknown option/, 'no zod or parseArgs wording')
    t.match(out.stderr, /usage: npm run -s data-action -- /)
  }
})

t.test('--credential-type userDefined sends the API key from the credential; basicAuth, the default, adds no header', async (t) => {
  const base = ['--base-url', 'https://gw.example.com', '--attributes', 'tier']
  const plain = JSON.parse((await cli(...base)).stdout)
  t.same(Object.keys(plain.config.request.headers), ['Content-Type', 'X-Request-Timeout-Ms'])
  t.same(JSON.parse((await cli(...base, '--credential-type', 'basicAuth')).stdout), plain)
  const user = JSON.parse((await cli(...base, '--credential-type', 'userDefined')).stdout)
  t.equal(user.config.request.headers['X-API-Key'], '${credentials.apiKey}')
  t.same(user, dataAction({ baseUrl: 'https://gw.example.com', attributes: ['tier'], credentialType: 'userDefined' }))
})
