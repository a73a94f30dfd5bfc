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

t.test('every link from the README and docs/ to a file of this repository finds it', async (t) => {
  for (const { file, text } of await docPages()) {
    for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue
      t.ok(existsSync(new URL(target!, new URL(file, root))), `${file} → ${target}`)
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
