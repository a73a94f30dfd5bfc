import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import t from 'tap'
import { docPages } from './helpers/readme.ts'

const root = new URL('../', import.meta.url)

t.test('the README is the front door: at most 300 lines, the details in docs/', async (t) => {
  const readme = (await docPages()).find((p) => p.file === 'README.md')!
  t.ok(readme.text.split('\n').length <= 300, `README.md has ${readme.text.split('\n').length} lines`)
  for (const command of ['npm ci && npm start', 'npm test']) t.match(readme.text, command)
})

/** A heading's anchor, as GitHub makes it: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-')

t.test('every link from the README and docs/ to a file of this repository finds it, and the heading it names', async (t) => {
  const pages = await docPages()
  for (const { file, text } of pages) {
    for (const [, target = '', fragment] of text.matchAll(/\]\(([^)#\s]*)(?:#([^)\s]*))?\)/g)) {
      if (/^[a-z]+:/.test(target)) continue
      const url = target ? new URL(target, new URL(file, root)) : new URL(file, root)
      t.ok(existsSync(url), `${file} → ${target}`)
      if (fragment === undefined || !url.pathname.endsWith('.md')) continue
      const page = await readFile(url, 'utf8').catch(() => '')
      const anchors = new Set([...page.matchAll(/^#+ (.*)$/gm)].map((m) => slug(m[1]!)))
      t.ok(anchors.has(fragment), `${file} → ${target}#${fragment}: a heading there`)
    }
  }
})

t.test('every command a page marks as tested names a test file that reads that marker', async (t) => {
  const markers = (await docPages()).flatMap(({ file, text }) => [...text.matchAll(/<!-- ([\w-]+): (test\/\S+\.ts)/g)].map(([, name, test]) => ({ file, name: name!, test: test! })))
  t.ok(markers.length >= 8, `${markers.length} marked commands`)
  for (const { file, name, test } of markers) {
    const source = await readFile(new URL(test, root), 'utf8').catch(() => '')
    t.match(source, `'${name}'`, `${file}: ${name} is read by ${test}`)
  }
})

/** Text files a reader follows to the README: its pages, the deploy files, the code's comments. */
async function referrers (): Promise<Array<{ file: string; text: string }>> {
  const files = ['Dockerfile', 'docker-compose.yml', '.env.example']
  for (const dir of ['deploy', 'src']) {
    for (const entry of await readdir(new URL(`${dir}/`, root), { recursive: true })) {
      if (/\.(ts|ya?ml|json|md)$/.test(entry)) files.push(`${dir}/${entry}`)
    }
  }
  const others = await Promise.all(files.map(async (file) => ({ file, text: await readFile(new URL(file, root), 'utf8') })))
  return [...(await docPages()), ...others]
}

t.test('every README section named in words (README "Operations", the README\'s Going live) is a heading there', async (t) => {
  const readme = (await docPages()).find((p) => p.file === 'README.md')!
  const headings = new Set([...readme.text.matchAll(/^#+ (.*)$/gm)].map((m) => m[1]!.trim().toLowerCase()))
  let named = 0
  for (const { file, text } of await referrers()) {
    for (const [, section] of text.matchAll(/README(?:\.md)?(?:'s)?\s+"?([A-Z][\w-]*(?: [A-Z][\w-]*)*)"?/g)) {
      named++
      t.ok(headings.has(section!.toLowerCase()), `${file}: README "${section}" is a heading of README.md`)
    }
  }
  t.pass(`${named} sections named`)
})

t.test('the error table in docs/api.md lists every code the service answers with, and the README points there', async (t) => {
  const { CATALOGUE } = await import('../src/errors.ts')
  const api = await readFile(new URL('docs/api.md', root), 'utf8')
  const table = api.slice(api.indexOf('## Every error code'))
  const rows = new Map([...table.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])]))
  for (const [code, { status }] of Object.entries(CATALOGUE)) t.equal(rows.get(code), status, `${code} is in the table with its status ${status}`)
  const readme = (await docPages()).find((p) => p.file === 'README.md')!.text
  t.match(readme, '(docs/api.md#every-error-code)')
  // The README's short list: each code in its first column is one the service answers with.
  const errors = readme.slice(readme.indexOf('## Errors'), readme.indexOf('\n## ', readme.indexOf('## Errors') + 1))
  const listed = [...errors.matchAll(/^\| (`[A-Z_]+`(?:, `[A-Z_]+`)*) \|/gm)].flatMap((m) => m[1]!.split(', ').map((c) => c.slice(1, -1)))
  t.ok(listed.length >= 8, `the README lists ${listed.join(', ')}`)
  for (const code of listed) t.ok(code in CATALOGUE, `README: ${code} is a code`)
})

t.test('the README says how to go live before listing errors, in plain words', async (t) => {
  const readme = (await docPages()).find((p) => p.file === 'README.md')!.text
  const order = [...readme.matchAll(/^## (.*)$/gm)].map((m) => m[1])
  t.ok(order.indexOf('Going live') >= 0 && order.indexOf('Going live') < order.indexOf('Errors'), `sections: ${order.join(', ')}`)
  t.ok(readme.slice(0, readme.indexOf('## Going live')).split('\n').length < 120, 'going live is reached within the first 120 lines')
  for (const { file, text } of await docPages()) t.notMatch(text, /\bfold(s|ed|ing)?\b|acceptance order/i, `${file}: no in-house words`)
})

t.test('every package with an install script is settled in allowScripts, with its reason in docs/development.md', async (t) => {
  const lock = JSON.parse(await readFile(new URL('package-lock.json', root), 'utf8')) as { packages: Record<string, { hasInstallScript?: boolean }> }
  const { allowScripts = {} } = JSON.parse(await readFile(new URL('package.json', root), 'utf8')) as { allowScripts?: Record<string, boolean> }
  const development = await readFile(new URL('docs/development.md', root), 'utf8')
  const scripted = Object.entries(lock.packages).filter(([, p]) => p.hasInstallScript).map(([path]) => path.split('node_modules/').pop()!)
  t.ok(scripted.length > 0, `${scripted.join(', ')}`)
  for (const name of scripted) {
    t.type(allowScripts[name], 'boolean', `${name}: allowed or denied in package.json`)
    t.match(development, new RegExp(`^\\| \`${name.replace('/', '\\/')}\` \\|.*\\| ${allowScripts[name] ? 'yes' : 'no'} \\|`, 'm'), `${name}: its reason in docs/development.md`)
  }
})

t.test('one way to make an API key, everywhere, and every example key one the gateway and its doctor accept', async (t) => {
  const { keysCheck } = await import('../src/doctor/checks.ts')
  const commands = new Set<string>()
  for (const { file, text } of await referrers()) {
    for (const [command] of text.matchAll(/openssl rand[^`'"()|\n]*/g)) {
      commands.add(command!.trim())
      t.equal(command!.trim(), 'openssl rand -hex 32', `${file}: ${command}`)
    }
  }
  t.ok(commands.size === 1, `the one command: ${[...commands].join(' | ')}`)
  for (const { file, text } of await referrers()) {
    const keys = [
      ...[...text.matchAll(file.endsWith('.yml') ? /API_KEYS: ([\w.:,-]+)/g : /API_KEYS=([\w.:,-]+)/g)].flatMap((m) => m[1]!.split(',').map((entry) => entry.split(':')[1]!)),
      ...[...text.matchAll(/\bKEY=([\w.-]+)/g)].map((m) => m[1]!),
    ]
    for (const key of keys) {
      const check = keysCheck([{ name: 'example', key, priority: 'live' }], false)
      t.ok(check.ok && key.length >= 16, `${file}: example key ${key} passes the doctor (${check.detail}) and API_KEYS_FILE`)
    }
  }
})
