import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import t from 'tap'
import { startService } from '../helpers/process.ts'
import { send } from '../helpers/stack.ts'

// Issue 13 item 8, as a user meets it: the service in sandbox mode (no Genesys credentials), the
// README's two quick-start curls run as written, one after the other, on the same made-up ids.

const root = new URL('../../', import.meta.url)
const CONVERSATION = '7d7a8c0e-4f43-4a6e-9a31-2b0b7c4f0d11'

/** The README's curls that write to that conversation, in the order the README shows them. */
async function readmeCurls (): Promise<string[]> {
  const readme = await readFile(new URL('README.md', root), 'utf8')
  const blocks = [...readme.matchAll(/```sh\n(curl [\s\S]*?)```/g)].map((m) => m[1]!.replaceAll('\\\n', ' ').trim())
  return blocks.filter((b) => b.includes(`http://127.0.0.1:3000/participants/${CONVERSATION}/`) || b.includes(`http://127.0.0.1:3000/conversations/${CONVERSATION}/`))
}

t.test("sandbox: the README's participant curl and conversation curl land on the same participant", async (t) => {
  const curls = await readmeCurls()
  t.equal(curls.length, 2, 'the README shows a write to a named participant and one to the conversation')
  t.match(curls[0], /\/participants\//, 'the named participant first')
  t.match(curls[1], /\/conversations\//, 'then the conversation')

  const service = await startService(t, {})
  const answers = []
  for (const curl of curls) {
    const { stdout } = await promisify(execFile)('sh', ['-c', curl.replace('http://127.0.0.1:3000', service.url)])
    answers.push(JSON.parse(stdout))
  }
  const named = curls[0]!.match(/\/participants\/[^/]+\/([^/]+)\/data/)![1]
  t.equal(answers[0].participantId, named)
  t.equal(answers[1].participantId, named, 'the conversation route writes to the participant the first curl named')
  t.same(answers[1].attributes, { ...answers[0].attributes, ...answers[1].attributes }, 'and keeps what the first curl wrote')

  const agent = await send(`${service.url}/conversations/${CONVERSATION}/data`, 'POST', { attributes: { wrapup: 'sale' }, purpose: 'agent' })
  t.equal(agent.status, 200, `purpose agent is not ambiguous: ${JSON.stringify(agent.body)}`)
  t.not(agent.body.participantId, named, 'and is another participant')
})
