import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import t from 'tap'
import { startService } from '../helpers/process.js'

/** The README's asynchronous-update snippet, as a user would paste it into a shell. */
async function readmeSnippet (): Promise<string> {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8')
  const section = readme.split('## For CRM integrators: asynchronous updates')[1]?.split('\n## ')[0] ?? ''
  const block = section.match(/```sh\n([\s\S]*?)```/)?.[1]
  if (!block) throw new Error('README.md has no shell snippet under "For CRM integrators"')
  return block
}

t.test("sandbox mode: the README's async curl gets a 202 and then reads the update written", async (t) => {
  const snippet = await readmeSnippet()
  const service = await startService(t, { NODE_ENV: 'development' })
  t.match(service.stdout(), /kept in memory: NOT durable/, 'start-up says the store is not durable')
  const run = snippet.replace('GATEWAY=http://127.0.0.1:3000', `GATEWAY=${service.url}`)
  t.not(run, snippet, 'the snippet sets GATEWAY to the default address')
  const { stdout } = await promisify(execFile)('sh', ['-euc', run], { env: { PATH: process.env.PATH } })
  const status = JSON.parse(stdout)
  t.match(status, { state: 'written', conversationId: '7d7a8c0e-4f43-4a6e-9a31-2b0b7c4f0d11', keys: ['crm_case'], attempts: 1 })
  service.child.kill('SIGTERM')
  t.equal((await service.exited).code, 0)
})

t.test('production without Redis: start-up says the preference is not applied', async (t) => {
  const service = await startService(t, {
    NODE_ENV: 'production',
    API_KEYS: 'crm:k',
    GENESYS_CLIENT_ID: 'x',
    GENESYS_CLIENT_SECRET: 'y',
    GENESYS_API_URL: 'http://127.0.0.1:9',
    GENESYS_LOGIN_URL: 'http://127.0.0.1:9',
  })
  t.match(service.stdout(), /respond-async is not applied/)
  service.child.kill('SIGTERM')
  await service.exited
})
