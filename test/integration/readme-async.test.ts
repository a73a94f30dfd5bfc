import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'
import { startService } from '../helpers/process.ts'
import { markedShell } from '../helpers/readme.ts'

t.test("sandbox mode: the README's async curl gets a 202 and then reads the update written", async (t) => {
  const snippet = await markedShell('async-curl')
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
