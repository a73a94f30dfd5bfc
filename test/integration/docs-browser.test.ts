import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import t from 'tap'
import { CHROMIUM_ARGS, findChromium } from '../helpers/chromium.ts'
import { startStack } from '../helpers/stack.ts'

// Issue 33, item 9: /docs under the console's Content-Security-Policy still works in a browser.
t.test('/docs renders the API under its Content-Security-Policy, with nothing refused', async (t) => {
  const { url } = await startStack(t)
  const profile = await mkdtemp(join(tmpdir(), 'pdg-chromium-'))
  t.teardown(() => rm(profile, { recursive: true, force: true }))
  const browser = await chromium.launchPersistentContext(profile, { executablePath: findChromium(), headless: true, args: CHROMIUM_ARGS })
  t.teardown(() => browser.close())
  const page = browser.pages()[0] ?? (await browser.newPage())
  const refused: string[] = []
  page.on('console', (msg) => { if (msg.type() === 'error') refused.push(msg.text()) })
  page.on('pageerror', (err) => refused.push(err.message))
  const res = await page.goto(`${url}/docs`)
  t.match(res?.headers()['content-security-policy'], "frame-ancestors 'none'")
  await page.getByText('/participants/{conversationId}/{participantId}/data').first().waitFor()
  t.same(refused.filter((m) => /Content Security Policy|Refused/i.test(m)), [], 'nothing the page needs is refused by the policy')
})
