import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { chromium } from 'playwright-core'
import t from 'tap'
import { CHROMIUM_ARGS, chromiumCandidates, findChromium } from '../helpers/chromium.ts'
import { send } from '../helpers/stack.ts'
import { startSandboxStack } from '../console/stack.ts'

// Issue 17: the console in a real browser, a Chromium found by findChromium (CHROMIUM_PATH,
// Playwright's cache, the system) driven by playwright-core; .ci/run installs Debian's. CONSOLE_SCREENSHOT=path
// also saves the conversation page there (docs/console.png in the README).

t.test('the browser is looked for in CHROMIUM_PATH first; none anywhere names every place looked at', async (t) => {
  t.equal(chromiumCandidates({ CHROMIUM_PATH: '/opt/my/chrome' })[0], '/opt/my/chrome')
  t.ok(chromiumCandidates({}).includes('/usr/bin/chromium'), 'then the usual system paths')
  t.throws(() => findChromium(['/nowhere/a', '/nowhere/b']), { message: /looked at:\n {2}\/nowhere\/a\n {2}\/nowhere\/b\n.*CHROMIUM_PATH/s })
})

t.test('sandbox: make a conversation, write through the form and through the API, see both live', async (t) => {
  const executablePath = findChromium()
  const { url, sim } = await startSandboxStack(t)
  const origin = new URL(url).host

  const profile = await mkdtemp(join(tmpdir(), 'pdg-chromium-'))
  t.teardown(() => rm(profile, { recursive: true, force: true }))
  const viewport = { width: 1100, height: 900 }
  const browser = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: CHROMIUM_ARGS, viewport })
  t.teardown(() => browser.close())
  const page = browser.pages()[0] ?? (await browser.newPage())

  const hosts = new Set<string>()
  const pageErrors: string[] = []
  const consoleErrors: Array<{ text: string; url: string }> = []
  page.on('request', (r) => hosts.add(new URL(r.url()).host))
  page.on('pageerror', (err) => pageErrors.push(err.message))
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push({ text: msg.text(), url: msg.location().url })
  })

  await page.goto(`${url}/console`)
  t.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Console')

  // Keyboard only: focus the button and press Enter.
  await page.getByRole('button', { name: 'New conversation (a customer and an agent)' }).focus()
  await Promise.all([page.waitForURL(/\/console\/conversations\/[0-9a-f-]{36}$/), page.keyboard.press('Enter')])
  const conversationId = page.url().split('/').pop()!
  const [customer, agent] = sim.conversation(conversationId)!.participants
  t.equal(customer!.purpose, 'customer')
  const row = (participantId: string, key: string) => page.locator(`tbody[data-participant="${participantId}"] tr[data-key="${key}"]`)
  await page.evaluate(() => Object.assign(globalThis, { notReloaded: true }))

  // Before anything is typed, the curl shown is still a request the API accepts: pasted into a
  // shell as it is (as a dry run, so this page sees no change yet), it answers 200.
  const preview = (await page.locator('#curl').textContent())!
  const { stdout } = await promisify(execFile)('sh', ['-c', preview.replace(/\/data'/, "/data?dryRun=true'")])
  t.match(JSON.parse(stdout), { dryRun: true, attributes: { customer_tier: 'gold' } }, `the empty form's curl is accepted: ${preview}`)

  // The form, by its labels, as a person with a screen reader would find it.
  await page.getByLabel('Participant').selectOption(customer!.id)
  await page.getByLabel('Attribute name').fill('customer_tier')
  await page.getByLabel('Value').fill('gold')
  await t.resolveMatch(page.locator('#curl').textContent(), `/participants/${conversationId}/${customer!.id}/data`, 'the curl for the same write')
  await page.getByLabel('Value').press('Enter')
  await page.locator('#write-result.ok').waitFor()
  t.match(await page.locator('#write-result').textContent(), '200 OK: set customer_tier')
  await row(customer!.id, 'customer_tier').locator('td.value', { hasText: 'gold' }).waitFor({ timeout: 10_000 })
  t.same(sim.attributes(conversationId, customer!.id), { customer_tier: 'gold' })

  // Another caller writes through the API: it shows, highlighted, without a reload. Waited for as
  // a state (bounded far beyond the page's poll, so a busy machine does not fail it); the page
  // not reloading is what tells a live update from a refresh.
  const api = await send(`${url}/participants/${conversationId}/${agent!.id}/data`, 'POST', { attributes: { crm_case: 'CASE-1042', queue: 'billing' } })
  t.equal(api.status, 200)
  await row(agent!.id, 'crm_case').locator('td.value', { hasText: 'CASE-1042' }).waitFor({ timeout: 10_000 })
  t.equal(await row(agent!.id, 'crm_case').getAttribute('class'), 'changed', 'highlighted as just changed')
  t.match(await row(agent!.id, 'crm_case').locator('td.by').textContent(), /^anonymous \(authentication off\), \d\d:\d\d:\d\d$/, 'and by whose request')
  t.equal(await page.evaluate(() => (globalThis as { notReloaded?: boolean }).notReloaded), true, 'no reload')
  await t.resolveMatch(page.locator('#live').textContent(), 'agent crm_case changed by anonymous')

  // A bad key: the API's own problem, shown as it gave it.
  await page.getByLabel('Attribute name').fill('my key')
  await page.getByLabel('Value').fill('x')
  await page.getByRole('button', { name: 'Set' }).click()
  await page.locator('#write-result.problem').waitFor()
  const expected = await send(`${url}/participants/${conversationId}/${customer!.id}/data`, 'POST', { attributes: { 'my key': 'x' } })
  t.equal(expected.status, 400)
  t.match(await page.locator('#write-result').textContent(), `400 INVALID_BODY ${expected.body.title}: ${expected.body.detail}`)

  // The Data Action for the keys shown, downloadable.
  const link = page.getByRole('link', { name: 'Genesys import JSON' })
  t.equal(await link.getAttribute('href'), '/console/data-action?attributes=crm_case%2Ccustomer_tier%2Cqueue')
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()])
  t.equal(download.suggestedFilename(), 'data-action.json')

  // An asynchronous write (Prefer: respond-async): its update shows, then written, then its value.
  const later = await send(`${url}/participants/${conversationId}/${customer!.id}/data`, 'POST', { attributes: { callback: 'tomorrow' } }, { prefer: 'respond-async' })
  t.equal(later.status, 202)
  const update = page.locator(`#async-conversation tr[data-update="${later.body.id}"]`)
  await update.locator('td.state', { hasText: 'written' }).waitFor({ timeout: 3000 })
  t.equal(await update.locator('td').nth(2).textContent(), 'callback', 'its keys, not its value')
  await row(customer!.id, 'callback').locator('td.value', { hasText: 'tomorrow' }).waitFor({ timeout: 2000 })
  await t.resolveMatch(page.locator('#live').textContent(), 'customer callback changed by your asynchronous update')
  await row(customer!.id, 'callback').locator('td.by', { hasText: /^your asynchronous update, \d\d:\d\d:\d\d$/ }).waitFor({ timeout: 2000 })

  if (process.env.CONSOLE_SCREENSHOT) {
    await page.getByLabel('Attribute name').fill('customer_tier')
    await page.getByLabel('Value').fill('platinum')
    await page.getByRole('button', { name: 'Set' }).click()
    await row(customer!.id, 'customer_tier').locator('td.value', { hasText: 'platinum' }).waitFor()
    await page.screenshot({ path: process.env.CONSOLE_SCREENSHOT, fullPage: true })
  }

  // The operations view keeps itself current: a bad request made now shows without a reload.
  await page.goto(`${url}/console`)
  const invalid = page.locator('#ops-errors tr', { has: page.locator('code', { hasText: 'INVALID_BODY' }) })
  await invalid.locator('td').nth(1).filter({ hasText: /^0$/ }).waitFor({ timeout: 3000 })
  t.equal((await send(`${url}/participants/${conversationId}/${customer!.id}/data`, 'POST', { attributes: {} })).status, 400)
  await invalid.locator('td').nth(1).filter({ hasText: /^1$/ }).waitFor({ timeout: 3000 })
  t.pass('an error answer shows in the operations view within one poll')

  // The index page's asynchronous updates keep themselves current too: a failed one shows with its code.
  await page.locator(`#async-recent tr[data-update="${later.body.id}"] td.state`, { hasText: 'written' }).waitFor()
  const failed = await send(`${url}/conversations/${conversationId}/data`, 'POST', { purpose: 'supervisor', attributes: { a: '1' } }, { prefer: 'respond-async' })
  t.equal(failed.status, 202)
  const failedRow = page.locator(`#async-failed tr[data-update="${failed.body.id}"]`)
  await failedRow.waitFor({ timeout: 3000 })
  t.match(await failedRow.textContent(), /failedPARTICIPANT_NOT_FOUND /, 'failed, with its code, without a reload')

  t.same([...hosts], [origin], 'no request left 127.0.0.1 (the service itself)')
  t.same(pageErrors, [], 'no page error')
  // Chromium reports the bad key's 400 answer on the console; that one was asked for.
  t.same(consoleErrors.filter((e) => !(e.text.includes('status of 400') && e.url.endsWith(`/participants/${customer!.id}/data`))), [], 'no console error')
})
