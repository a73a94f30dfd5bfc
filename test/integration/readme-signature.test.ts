import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import t from 'tap'
import { startStack } from '../helpers/stack.js'

/** The README's signing snippet, as a user would paste it into a shell. */
async function readmeSnippet (): Promise<string> {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8')
  const section = readme.split('### Signed webhooks')[1]?.split('\n### ')[0] ?? ''
  const block = section.match(/```sh\n([\s\S]*?)```/)?.[1]
  if (!block) throw new Error('README.md has no shell snippet under "Signed webhooks"')
  return block
}

t.test("the README's signing snippet, pasted into a shell, gets a signed write through", async (t) => {
  const snippet = await readmeSnippet()
  // The values the snippet sets for itself are the ones this stack is configured with.
  const key = snippet.match(/\bKEY=(\S+)/)?.[1]
  const secret = snippet.match(/\bSECRET=(\S+)/)?.[1]
  t.ok(key && secret, 'the snippet sets KEY and SECRET itself')
  const { url, sim } = await startStack(t, { env: { API_KEYS: `crm:${key}`, SIGNING_SECRETS: `crm:${secret}` } })
  const run = snippet.replace('GATEWAY=http://127.0.0.1:3000', `GATEWAY=${url}`)
  t.not(run, snippet, 'the snippet sets GATEWAY to the default address')
  // Nothing from the test's environment: every variable the snippet uses, it sets.
  const { stdout } = await promisify(execFile)('sh', ['-euc', run], { env: { PATH: process.env.PATH } })
  const answer = JSON.parse(stdout)
  t.equal(answer.attributes?.tier, 'gold', 'written, with the signature checked')
  t.equal(sim.stats.writes, 1)
})
