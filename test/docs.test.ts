import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { docPages } from './helpers/readme.js'

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
