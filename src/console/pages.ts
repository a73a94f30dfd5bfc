// The console's pages, rendered on the server as plain HTML: headings in order, every control
// labelled, everything reachable by keyboard; the script only keeps the values current.
import type { OpsView } from './ops.ts'
import type { ConversationSummary } from './source.ts'
import { lastWriteOf, type LastWrites } from './writes.ts'

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Text for HTML, in content and in quoted attributes. */
export const h = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => ESCAPES[c]!)

export interface Chrome {
  title: string
  sandbox: boolean
  /** Signed in with this API key name; undefined when there is nothing to sign out of. */
  signedInAs?: string | undefined
}

export function layout (chrome: Chrome, body: string, mainAttrs = ''): string {
  const signOut = chrome.signedInAs === undefined
    ? ''
    : `<form method="post" action="/console/sign-out"><span>${h(chrome.signedInAs)}</span> <button type="submit">Sign out</button></form>`
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${h(chrome.title)} · Participant data gateway</title>
<link rel="icon" href="/console/assets/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/console/assets/console.css">
<script src="/console/assets/console.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header><a href="/console">Participant data gateway</a>${chrome.sandbox ? ' <span class="badge">sandbox</span>' : ''}${signOut}</header>
<main id="main" tabindex="-1"${mainAttrs}>
${body}
</main>
</body>
</html>
`
}

/** `refused`: why the key last typed was not taken. */
export function signInPage (next: string, refused?: string): string {
  return layout({ title: 'Sign in', sandbox: false }, `<h1>Sign in</h1>
<section>
<form method="post" action="/console/sign-in">
<p>Use one of the service's API keys (API_KEYS or API_KEYS_FILE) that may use the console. It is checked once; the browser then keeps a signed session cookie, never the key.
You will see, and may set, only the attributes that key may.</p>
${refused ? `<p class="result problem" role="alert">${h(refused)}</p>` : ''}
<input type="hidden" name="next" value="${h(next)}">
<p><label for="key">API key</label><br><input id="key" name="key" type="password" autocomplete="current-password" required size="50"></p>
<p><button type="submit">Sign in</button></p>
</form>
</section>`)
}

function opsSection (ops: OpsView): string {
  const rows = ops.errors.length === 0
    ? '<tr><td colspan="3" class="muted">None since start.</td></tr>'
    : ops.errors.map((e) => `<tr><th scope="row"><code>${h(e.code)}</code></th><td>${e.count}</td><td>0</td></tr>`).join('\n')
  return `<section aria-labelledby="ops-h">
<h2 id="ops-h">Operations</h2>
<dl class="ops">
<dt>Updates waiting</dt><dd id="ops-updates">${ops.queue.updates}</dd>
<dt>Conversations in the queue</dt><dd id="ops-conversations">${ops.queue.conversations}</dd>
<dt>Genesys requests that waited for the rate budget</dt><dd id="ops-waits">${ops.budget.waits}</dd>
<dt>Refused for want of budget</dt><dd id="ops-refusals">${ops.budget.refusals}</dd>
</dl>
<table><caption class="muted">Error answers by code</caption>
<thead><tr><th scope="col">Code</th><th scope="col">Since start</th><th scope="col">Since this page opened</th></tr></thead>
<tbody id="ops-errors">
${rows}
</tbody></table>
<p class="muted">The same numbers as <a href="/metrics">/metrics</a>, kept current every 2 s.</p>
</section>`
}

/** `after`: sections below the grid (the asynchronous updates, where they exist). */
/** A participant as a key sees it: the names its patterns match; a value is null where the key may not read. */
export interface ShownParticipant {
  id: string
  purpose: string
  attributes: Record<string, string | null>
}

/** What the index page offers the signed-in key: the going-live checks, and making conversations. */
export interface IndexOffers {
  doctor: boolean
  create: boolean
}

export function indexPage (chrome: Chrome, conversations: ConversationSummary[] | undefined, ops: OpsView, after = '', offers: IndexOffers = { doctor: true, create: true }): string {
  let list: string
  if (conversations === undefined) {
    list = `<form method="get" action="/console/open">
<p><label for="open-id">Conversation id</label><br><input id="open-id" name="id" required size="40" pattern="[0-9a-fA-F-]{36}"> <button type="submit">Open</button></p>
</form>`
  } else {
    const rows = conversations.map((c) => `<tr><th scope="row"><a href="/console/conversations/${h(c.id)}"><code>${h(c.id)}</code></a></th><td>${h(c.startTime)}${c.endTime ? ` (ended ${h(c.endTime)})` : ''}</td><td>${c.participants}</td></tr>`)
    list = `${offers.create ? '<form method="post" action="/console/conversations"><button type="submit">New conversation (a customer and an agent)</button></form>' : ''}
${rows.length === 0
  ? '<p class="muted">No conversations yet: make one, or write to any made-up ids through the API.</p>'
  : `<table><caption class="muted">Newest first</caption><thead><tr><th scope="col">Conversation</th><th scope="col">Started</th><th scope="col">Participants</th></tr></thead><tbody>
${rows.join('\n')}
</tbody></table>`}`
  }
  return layout(chrome, `<h1>Console</h1>
${offers.doctor ? '<p><a href="/console/doctor">Going-live checks</a>: region, OAuth client, rate limit, Redis, PUBLIC_URL, keys, and merge or replace.</p>' : ''}
<div class="grid">
<section aria-labelledby="conv-h">
<h2 id="conv-h">${conversations === undefined ? 'Open a conversation' : 'Simulated conversations'}</h2>
${list}
</section>
${opsSection(ops)}
</div>
${after}`)
}

/** Shown in place of a value the signed-in key may not read. */
export const HIDDEN = 'hidden: this key may not read'

function participantSection (p: ShownParticipant, writers: LastWrites): string {
  const keys = Object.keys(p.attributes).sort()
  const rows = keys.length === 0
    ? '<tr><td colspan="3" class="muted">No attributes yet.</td></tr>'
    : keys.map((k) => {
      const w = lastWriteOf(writers, p.id, k)
      const v = p.attributes[k]
      return `<tr data-key="${h(k)}"><th scope="row">${h(k)}</th>${v === null || v === undefined ? `<td class="value muted">${HIDDEN}</td>` : `<td class="value">${h(v)}</td>`}<td class="by">${w ? `${h(w.caller)}, ${new Date(w.at).toISOString().slice(11, 19)}` : '—'}</td></tr>`
    }).join('\n')
  return `<section aria-labelledby="p-${h(p.id)}">
<h2 id="p-${h(p.id)}">${h(p.purpose || 'participant')} <code>${h(p.id)}</code></h2>
<table><thead><tr><th scope="col">Attribute</th><th scope="col">Value</th><th scope="col">Last set through this service by</th></tr></thead>
<tbody data-participant="${h(p.id)}">
${rows}
</tbody></table>
</section>`
}

/**
 * Sandbox only: whether the conversation has ended, and a way to end it, so that a write's
 * 409 CONVERSATION_ENDED can be seen before a real call meets it.
 */
function endSection (id: string, endTime: string | undefined, mayEnd: boolean): string {
  if (endTime !== undefined) return `<p class="result problem">Ended at ${h(endTime)}: writes that read the conversation are refused with 409 CONVERSATION_ENDED (ENDED_CONVERSATION_WRITES=allow lets them through).</p>`
  if (!mayEnd) return ''
  return `<form method="post" action="/console/conversations/${h(id)}/end"><button type="submit">End this conversation (the caller hangs up)</button></form>`
}

/**
 * Sandbox only: a write as a flow's Set Participant Data makes it, straight into the simulator, so
 * that what the gateway does with someone else's value can be seen.
 */
function behindSection (id: string, participants: ShownParticipant[]): string {
  const options = participants.map((p) => `<option value="${h(p.id)}">${h(p.purpose || 'participant')} ${h(p.id)}</option>`).join('')
  return `<details><summary>Write as a flow would, behind the gateway's back</summary>
<p class="muted">Straight into the simulated Genesys, per key, as Set Participant Data or another integration writes. Reads show it only after the simulator's read lag, as Genesys's do: the gateway must keep it.</p>
<form method="post" id="behind" class="write" action="/console/conversations/${h(id)}/behind">
<label>Whose data <select name="participant">${options}</select></label>
<label>Key the flow sets <input name="name" required autocomplete="off"></label>
<label>To <input name="value" autocomplete="off"></label>
<button type="submit">Write as a flow</button>
</form></details>`
}

export interface ConversationExtras {
  /** A section of the asynchronous updates to this conversation, where they exist. */
  updates?: string | undefined
  /** Sandbox: whether the conversation has ended, and a button to end it. */
  ended?: { endTime: string | undefined; mayEnd?: boolean } | undefined
  /** No PUBLIC_URL outside sandbox: the Data Action's URL is a guess, and the page says so. */
  guessed?: boolean
  /** Why the signed-in key cannot write from here; the form is then shown disabled. */
  cannotWrite?: string | undefined
  /** False: the key may not write, and sees no form (nor the curl that would do the same). */
  mayWrite?: boolean
  /** Sandbox: a form to write as a flow would, behind the gateway's back. */
  behind?: boolean
}

export function conversationPage (
  chrome: Chrome,
  id: string,
  participants: ShownParticipant[],
  writers: LastWrites,
  authOn: boolean,
  { updates = '', ended, guessed = false, cannotWrite, mayWrite = true, behind = false }: ConversationExtras = {}
): string {
  const options = participants.map((p) => `<option value="${h(p.id)}">${h(p.purpose || 'participant')} ${h(p.id)}</option>`).join('')
  return layout(chrome, `<h1>Conversation <code>${h(id)}</code></h1>
<p class="muted">Changes show here as they happen, highlighted, with the API key whose request made them.</p>
${ended ? endSection(id, ended.endTime, ended.mayEnd !== false) : ''}
${behind && mayWrite ? behindSection(id, participants) : ''}
<p id="live" role="status" aria-live="polite"></p>
${participants.map((p) => participantSection(p, writers)).join('\n')}
${updates}
${mayWrite ? writeSections(options, cannotWrite) : '<p class="muted" id="no-write">This key may not write: there is no form here to set attributes with.</p>'}
<section aria-labelledby="da-h">
<h2 id="da-h">Data Action for these keys</h2>
${guessed ? '<p class="result problem">PUBLIC_URL is not set: the URL in these downloads is guessed from this page\'s address, and behind a proxy it is likely wrong. Set PUBLIC_URL to where Genesys reaches this service.</p>' : ''}
<p id="data-action-none" class="muted">Set an attribute whose name is a plain identifier (letters, digits, _) to get a Data Action for it.</p>
<p id="data-action-links" hidden>For <span id="data-action-keys"></span>:
<a id="data-action-json" href="/console/data-action" download>Genesys import JSON</a> ·
<a id="data-action-terraform" href="/console/data-action" download>Terraform (CX as Code)</a></p>
</section>`, ` data-conversation="${h(id)}" data-auth="${authOn ? 'on' : 'off'}"`)
}

/** The form that sets an attribute through the API, and the curl that does the same. */
function writeSections (options: string, cannotWrite: string | undefined): string {
  return `<section aria-labelledby="write-h">
<h2 id="write-h">Set or clear an attribute</h2>
<p class="muted">Sent to <code>POST /participants/{conversationId}/{participantId}/data</code>, the API flows and CRMs use, with your key: its answer shows as it is.</p>
${cannotWrite ? `<p class="result problem" role="note">${h(cannotWrite)}</p>` : ''}
<form id="write" class="write">
<label>Participant <select name="participant">${options}</select></label>
<label>Attribute name <input name="attr" required autocomplete="off" placeholder="customer_tier"></label>
<label>Value <input name="val" autocomplete="off" placeholder="gold"></label>
<label class="check"><input type="checkbox" name="clear"> Clear it (send null)</label>
<button type="submit"${cannotWrite ? ' disabled' : ''}>Set</button>
</form>
<div id="write-result" class="result" tabindex="-1" role="status" aria-live="polite"></div>
</section>
<section aria-labelledby="curl-h">
<h2 id="curl-h">The same write with curl</h2>
<pre><code id="curl"></code></pre>
</section>`
}

export function problemPage (chrome: Chrome, status: number, title: string, detail: string): string {
  return layout(chrome, `<h1>${h(title)}</h1><section><p role="alert">${status}: ${h(detail)}</p><p><a href="/console">Back to the console</a></p></section>`)
}
