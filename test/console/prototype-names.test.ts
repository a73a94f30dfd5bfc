import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import t, { type Test } from 'tap'
import { latest, MemoryOrder } from '../../src/coordination/order.ts'
import { CHROMIUM_ARGS, findChromium } from '../helpers/chromium.ts'
import { id, send, until } from '../helpers/stack.ts'
import { startSandboxStack, type SandboxStack } from './stack.ts'

// Issue 33, item 4: maps keyed by caller-given names have no prototype. Object.prototype's own
// names (toString, valueOf, hasOwnProperty) as attribute names, in every place that keys by them.

const NAMES = ['toString', 'valueOf', 'hasOwnProperty'] as const

/** A participant with `other` written through the API and the three names written asynchronously. */
async function conversation (t: Test, stack: SandboxStack): Promise<{ c: string; p: string }> {
  const c = id()
  const p = id()
  t.equal((await send(`${stack.url}/participants/${c}/${p}/data`, 'POST', { attributes: { other: 'sync' } })).status, 200)
  const accepted = await send(`${stack.url}/participants/${c}/${p}/data`, 'POST', { attributes: { toString: 'a', valueOf: 'b', hasOwnProperty: 'c' } }, { prefer: 'respond-async' })
  t.equal(accepted.status, 202)
  await until(() => (stack.sim.attributes(c, p) as Record<string, unknown> | undefined)?.['hasOwnProperty'] === 'c')
  return { c, p }
}

t.test('the conversation page, its state, the read route and delivery take the names of Object.prototype as plain names', async (t) => {
  const stack = await startSandboxStack(t)
  const { c, p } = await conversation(t, stack)
  t.same(stack.sim.attributes(c, p), { other: 'sync', toString: 'a', valueOf: 'b', hasOwnProperty: 'c' }, 'delivered (the order of acceptance keyed by them)')

  const page = await fetch(`${stack.url}/console/conversations/${c}`)
  t.equal(page.status, 200, 'the page answers (it was 500: writers[p.id]?.[k] found Object.prototype.toString)')
  const html = await page.text()
  for (const k of NAMES) t.match(html, `<tr data-key="${k}"><th scope="row">${k}</th><td class="value">`, `${k}: a row`)
  t.match(html, /<tr data-key="toString">.*<td class="by">—<\/td>/, 'with no writer made up from the prototype')

  const state: any = await (await fetch(`${stack.url}/console/conversations/${c}/state`)).json()
  t.same(Object.keys(state.writers[p]), ['other'], '/state: writers only for what was written through the API')

  const read = await send(`${stack.url}/participants/${c}/${p}/data?keys=toString,valueOf`, 'GET')
  t.same(read.body.attributes, { toString: 'a', valueOf: 'b' }, 'the read route')

  const sync = await send(`${stack.url}/participants/${c}/${p}/data`, 'POST', { attributes: { toString: 'd' } })
  t.equal(sync.status, 200)
  const after: any = await (await fetch(`${stack.url}/console/conversations/${c}/state`)).json()
  t.equal(after.writers[p].toString.caller, 'anonymous (authentication off)', 'a write of toString through the API is noted as any other')
})

t.test('the order of acceptance: an update without a sequence for toString takes none from Object.prototype', async (t) => {
  const built = latest([{ changes: { a: '1' }, seqs: { a: 1 } }, { changes: { toString: 'x', hasOwnProperty: 'y' }, seqs: {} }])
  t.same({ ...built.changes }, { a: '1', toString: 'x', hasOwnProperty: 'y' })
  t.same({ ...built.seqs }, { a: 1 }, 'no sequence for them: a synchronous write, newer than any')
  const order = new MemoryOrder()
  const older = await order.next('c')
  await order.written('c', 'p', Object.keys(built.changes), built.seqs)
  t.same({ ...(await order.unsuperseded('c', 'p', { toString: 'old', valueOf: 'v' }, { toString: older, valueOf: older })) }, { valueOf: 'v' }, 'an older toString is not written over it; valueOf, never written, is')
})

t.test('the console\'s script renders those names and keeps polling', async (t) => {
  const stack = await startSandboxStack(t)
  const { c, p } = await conversation(t, stack)
  const profile = await mkdtemp(join(tmpdir(), 'pdg-chromium-'))
  t.teardown(() => rm(profile, { recursive: true, force: true }))
  const browser = await chromium.launchPersistentContext(profile, { executablePath: findChromium(), headless: true, args: CHROMIUM_ARGS })
  t.teardown(() => browser.close())
  const page = browser.pages()[0] ?? (await browser.newPage())
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  t.equal((await page.goto(`${stack.url}/console/conversations/${c}`))?.status(), 200)

  // A change the script must draw itself: a name of Object.prototype, set behind the gateway's back.
  const held: Record<string, string> = stack.sim.conversation(c)!.participants.find((x) => x.id === p)!.attributes
  held['valueOf'] = 'changed'
  const row = page.locator(`tbody[data-participant="${p}"] tr[data-key="valueOf"] td.value`)
  await row.filter({ hasText: 'changed' }).waitFor()
  for (const k of NAMES) t.equal(await page.locator(`tbody[data-participant="${p}"] tr[data-key="${k}"]`).count(), 1, `${k}: one row`)
  t.match(await page.locator(`tbody[data-participant="${p}"] tr[data-key="valueOf"] td.by`).textContent(), /^your asynchronous update, \d\d:\d\d:\d\d$/, 'its writer: the update, not Object.prototype.valueOf')
  t.same(errors, [], 'no script error')
})
