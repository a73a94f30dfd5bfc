import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'
import { markedShell } from '../helpers/readme.ts'
import { startStack } from '../helpers/stack.ts'

t.test("the README's signing snippet, pasted into a shell, gets a signed write through", async (t) => {
  const snippet = await markedShell('signature-curl')
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
