import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { GUESS_HEADER, isHttps } from '../data-action/index.ts'
import type { Report } from '../doctor/index.ts'
import { doctorPage } from './doctor-page.ts'
import { ApiError } from '../errors.ts'
import { consoleCredential, allows, EVERYTHING } from '../access/index.ts'
import { PAGE_CSP } from '../http/index.ts'
import { CSS, ICON, SCRIPT } from './assets.ts'
import { opsView } from './ops.ts'
import { conversationPage, indexPage, problemPage, signInPage, type Chrome, type ShownParticipant } from './pages.ts'
import { nextPath, Sessions, signInRedirect } from './session.ts'
import type { ConsoleParticipant, ConversationSource } from './source.ts'
import { asyncUpdates, conversationUpdates, updatesSection } from './updates.ts'
import type { WriteLog, LastWrites } from './writes.ts'
import type { Operation, Scope } from '../domain.ts'
import type { AsyncDelivery } from '../delivery/index.ts'
import type { Registry } from 'prom-client'

export interface ConsoleRoutesOptions {
  sandbox: boolean
  /** PUBLIC_URL: an https one makes the session cookie Secure, as the browser's side of a TLS proxy is. */
  publicUrl: string | undefined
  /** The going-live checks with this service's configuration (and a probe of a test call). */
  doctor: (probe?: { conversationId: string; participantId: string }) => Promise<Report>
  sessions: Sessions
  /** API keys are configured: the console wants a sign-in, as the API wants a key. */
  authOn: boolean
  source: ConversationSource
  writes: WriteLog
  /** Asynchronous delivery, for the caller's updates (off or absent: none are shown). */
  delivery: AsyncDelivery | undefined
  /** The service's metrics, of which the ops view shows a few. */
  registry: Registry
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

type Params = { id: string; participantId: string }

/** Why a request is from another site, by what the browser says; undefined for this site and non-browsers. */
function crossSite (req: FastifyRequest): string | undefined {
  const site = req.headers['sec-fetch-site']
  if (site !== undefined) return site === 'same-origin' ? undefined : `Sec-Fetch-Site: ${site}`
  const origin = req.headers.origin
  if (origin === undefined) return undefined
  try {
    // Through URL both, so that a default port (:80, :443) written or not compares equal.
    const { protocol, host } = new URL(origin)
    if (host === new URL(`${protocol}//${req.host}`).host) return undefined
  } catch {}
  return `Origin: ${origin.slice(0, 100)}`
}

function signedInAs (name: string | undefined, scope: Scope): string | undefined {
  if (name === undefined || scope === EVERYTHING) return name
  return `${name} (may ${scope.may.join(', ')}; attributes ${scope.attributes.join(', ')})`
}

/** The console's routes, in their own context: its form parser and headers stay here. */
export async function consoleRoutes (app: FastifyInstance, opts: ConsoleRoutesOptions) {
  const { sandbox, publicUrl, doctor, sessions, authOn, source, writes, delivery, registry } = opts
  // Not part of the API: left out of /openapi.json and /docs.
  app.addHook('onRoute', (route) => {
    route.schema = { ...route.schema, hide: true }
  })
  // The sign-in form; its body (a key) is never logged, as no body is.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)))
  })
  app.addHook('onSend', (_req, reply, payload, done) => {
    reply.header('content-security-policy', PAGE_CSP)
    reply.header('x-content-type-options', 'nosniff')
    reply.header('referrer-policy', 'no-referrer')
    // Pages carry participant data, which may be personal: no cache keeps a copy.
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store')
    done(null, payload)
  })
  const open = new Set(['/console/sign-in', '/console/assets/console.css', '/console/assets/console.js', '/console/assets/icon.svg'])
  const polled = new Set(['/console/ops', '/console/updates'])
  // Beside SameSite=Strict, which an old browser or a same-site subdomain gets around: a form
  // posted from another origin is refused, whoever's cookie it carries.
  app.addHook('onRequest', (req, _reply, done) => {
    const refused = req.method === 'POST' ? crossSite(req) : undefined
    done(refused === undefined ? undefined : new ApiError('CROSS_SITE_REQUEST', `${refused}: console forms are taken only from this console's own pages`))
  })
  app.addHook('onRequest', (req, reply, done) => {
    if (!authOn || open.has(req.routeOptions.url ?? '') || sessions.keyOf(req) !== undefined) return done()
    // A page asked for by a person goes to the sign-in form; anything a script asked for is refused.
    if (req.method === 'GET' && !req.url.endsWith('/state') && !req.url.startsWith('/console/data-action') && !polled.has(req.url)) return signInRedirect(req, reply)
    reply.header('www-authenticate', 'Cookie realm="console"')
    done(new ApiError('UNAUTHORIZED', 'sign in to the console at /console/sign-in with one of the API keys'))
  })

  const chrome = (req: FastifyRequest, title: string): Chrome => ({ title, sandbox, signedInAs: signedInAs(sessions.keyOf(req)?.name, scope(req)) })
  /** What the signed-in key may do and see: the API's answers through it are limited the same way. */
  const scope = (req: FastifyRequest): Scope => sessions.keyOf(req)?.scope ?? EVERYTHING
  /** A key whose writes must be signed cannot write from here: the console has no way to sign. */
  const unsignable = (req: FastifyRequest) => {
    const key = sessions.keyOf(req)
    return key?.signingSecret === undefined
      ? undefined
      : `Writes with API key "${key.name}" must be signed (SIGNING_SECRETS), which this console cannot do: send them from the system that holds the signing secret.`
  }
  const may = (req: FastifyRequest, operation: Operation) => scope(req).may.includes(operation)
  /** The probe writes attributes of its own, outside any pattern: only a key that may write every attribute may see the checks. */
  const everyAttribute = (req: FastifyRequest) => may(req, 'write') && scope(req).attributes.includes('*')
  /**
   * What the key may see of a conversation: the names its patterns match, and their values only
   * when it may read (null in their place otherwise), as GET …/data would answer it.
   */
  const seen = (req: FastifyRequest, participants: ConsoleParticipant[]): ShownParticipant[] => {
    const s = scope(req)
    const values = s.may.includes('read')
    return participants.map((p) => {
      const named = Object.entries(p.attributes).filter(([k]) => allows(s, k))
      return { ...p, attributes: Object.fromEntries(named.map(([k, v]) => [k, values ? v : null])) }
    })
  }
  /** Who wrote what, and when: only for names the key's patterns match. */
  const writersSeen = (req: FastifyRequest, all: LastWrites): LastWrites => {
    const s = scope(req)
    const out: LastWrites = Object.create(null)
    for (const [participantId, byKey] of Object.entries(all)) {
      out[participantId] = Object.assign(Object.create(null), Object.fromEntries(Object.entries(byKey).filter(([k]) => allows(s, k))))
    }
    return out
  }
  const mayNotWrite = (req: FastifyRequest, what: string) => {
    if (!may(req, 'write')) throw new ApiError('OPERATION_NOT_ALLOWED', `API key "${sessions.keyOf(req)?.name}" may not write, so it may not ${what}; it may ${scope(req).may.join(', ')}`)
  }
  const html = (reply: FastifyReply, status: number, page: string) => reply.status(status).type('text/html; charset=utf-8').send(page)

  /** Sends a request through the service's own API, with the signed-in person's key: the API's answer, as it is. */
  async function viaApi (req: FastifyRequest, method: 'GET' | 'POST', url: string, payload?: string) {
    const key = sessions.keyOf(req)
    return app.inject({
      method,
      url,
      ...(payload !== undefined && { payload }),
      // The host the browser used: without PUBLIC_URL, the Data Action's guess is made from it.
      headers: { host: req.host, ...(payload !== undefined && { 'content-type': req.headers['content-type'] ?? 'application/json' }), ...(key && { authorization: `Bearer ${consoleCredential(key.name)}` }) },
    })
  }

  app.get('/console/assets/console.css', (_req, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'no-cache').send(CSS))
  app.get('/console/assets/icon.svg', (_req, reply) => reply.type('image/svg+xml').header('cache-control', 'no-cache').send(ICON))
  app.get('/console/assets/console.js', (_req, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(SCRIPT))

  app.get<{ Querystring: { next?: string } }>('/console/sign-in', async (req, reply) => {
    if (!authOn) return reply.redirect('/console', 303)
    return html(reply, 200, signInPage(nextPath(req.query.next)))
  })
  app.post<{ Body: { key?: string; next?: string } }>('/console/sign-in', async (req, reply) => {
    const next = nextPath(req.body?.next)
    const key = authOn ? sessions.keyFor(req.body?.key ?? '') : undefined
    if (key === undefined) return html(reply, 401, signInPage(next, 'That is not a key this service knows.'))
    if (!(key.scope ?? EVERYTHING).may.includes('console')) {
      return html(reply, 403, signInPage(next, `API key "${key.name}" may not use the console; it may ${key.scope!.may.join(', ')}.`))
    }
    return reply.header('set-cookie', sessions.cookie(key, req.protocol === 'https' || isHttps(publicUrl))).redirect(next, 303)
  })
  app.post('/console/sign-out', async (_req, reply) => reply.header('set-cookie', Sessions.cleared).redirect('/console/sign-in', 303))

  /** Whose asynchronous updates show: the signed-in key's, as GET /updates shows the caller's own ('' with auth off). */
  const caller = (req: FastifyRequest) => sessions.keyOf(req)?.name ?? ''

  app.get('/console', async (req, reply) => {
    const updates = await asyncUpdates(delivery)?.all(caller(req))
    const shown = { doctor: everyAttribute(req), create: may(req, 'write') }
    return html(reply, 200, indexPage(chrome(req, 'Console'), source.list(), await opsView(registry), updates && updatesSection(updates, authOn), shown))
  })

  // Polled every 2 s by the index page: logged only when it goes wrong.
  app.get('/console/ops', { logLevel: 'warn' }, async () => opsView(registry))
  app.get('/console/updates', { logLevel: 'warn' }, async (req) => {
    const feed = asyncUpdates(delivery)
    if (feed === undefined) throw new ApiError('ROUTE_NOT_FOUND', 'asynchronous delivery is off: it needs REDIS_URL in production')
    return feed.all(caller(req))
  })

  const notForThisKey = 'the going-live checks and their probe (which writes attributes of its own) are for a key that may write every attribute'
  app.get('/console/doctor', async (req, reply) => {
    const page = chrome(req, 'Going-live checks')
    if (!everyAttribute(req)) return html(reply, 403, problemPage(page, 403, 'OPERATION_NOT_ALLOWED', notForThisKey))
    return html(reply, 200, doctorPage(page, await doctor()))
  })
  app.post<{ Body: { conversation?: string; participant?: string } }>('/console/doctor', async (req, reply) => {
    const conversationId = (req.body?.conversation ?? '').trim().toLowerCase()
    const participantId = (req.body?.participant ?? '').trim().toLowerCase()
    const page = chrome(req, 'Going-live checks')
    // The probe writes keys of its own to a call, outside the key's patterns: only a key that may write anything may ask for it.
    if (!everyAttribute(req)) return html(reply, 403, problemPage(page, 403, 'OPERATION_NOT_ALLOWED', notForThisKey))
    // Its writes are unsigned: a key whose writes must be signed may not have them made here either.
    const unsigned = unsignable(req)
    if (unsigned) return html(reply, 403, problemPage(page, 403, 'OPERATION_NOT_ALLOWED', `${unsigned} The probe writes too.`))
    if (!UUID.test(conversationId) || !UUID.test(participantId)) return html(reply, 400, problemPage(page, 400, 'Not a conversation and participant id', 'Genesys ids are UUIDs'))
    return html(reply, 200, doctorPage(page, await doctor({ conversationId, participantId }), { conversationId, participantId }))
  })

  app.get<{ Querystring: { id?: string } }>('/console/open', async (req, reply) => {
    const id = (req.query.id ?? '').trim()
    if (!UUID.test(id)) return html(reply, 400, problemPage(chrome(req, 'Not a conversation id'), 400, 'Not a conversation id', 'a Genesys conversation id is a UUID'))
    return reply.redirect(`/console/conversations/${id.toLowerCase()}`, 303)
  })

  app.post('/console/conversations', async (req, reply) => {
    if (source.create === undefined) throw new ApiError('ROUTE_NOT_FOUND', 'conversations are made here only in sandbox mode')
    mayNotWrite(req, 'make a conversation')
    return reply.redirect(`/console/conversations/${source.create()}`, 303)
  })

  app.post<{ Params: Params }>('/console/conversations/:id/end', async (req, reply) => {
    if (source.end === undefined) throw new ApiError('ROUTE_NOT_FOUND', 'conversations are ended here only in sandbox mode')
    mayNotWrite(req, 'end a conversation')
    const id = req.params.id.toLowerCase()
    if (source.end(id) === undefined) throw new ApiError('CONVERSATION_NOT_FOUND', `the simulator has no conversation ${id}`)
    return reply.redirect(`/console/conversations/${id}`, 303)
  })

  // A flow's Set Participant Data, or another integration, writing the same participant: what the
  // gateway must not undo. Straight into the simulator, which shows it to reads only after its lag.
  app.post<{ Params: Params; Body: { participant?: string; name?: string; value?: string } }>('/console/conversations/:id/behind', async (req, reply) => {
    if (source.writeBehind === undefined) throw new ApiError('ROUTE_NOT_FOUND', 'writes behind the gateway\'s back are made here only in sandbox mode')
    mayNotWrite(req, 'write as a flow would')
    const id = req.params.id.toLowerCase()
    const name = req.body?.name ?? ''
    if (name === '') throw new ApiError('INVALID_BODY', 'name: the attribute to write is missing', { errors: [{ in: 'body', path: '/name', message: 'missing' }] })
    const participant = (req.body?.participant ?? '').toLowerCase()
    if (!source.writeBehind(id, participant, { [name]: req.body?.value ?? '' })) {
      throw new ApiError('PARTICIPANT_NOT_FOUND', `the simulator has no participant ${participant} in conversation ${id}`)
    }
    return reply.redirect(`/console/conversations/${id}`, 303)
  })

  app.get<{ Params: Params }>('/console/conversations/:id', async (req, reply) => {
    const { id } = req.params
    const page = chrome(req, `Conversation ${id}`)
    if (!UUID.test(id)) return html(reply, 400, problemPage(page, 400, 'Not a conversation id', 'a Genesys conversation id is a UUID'))
    try {
      const all = await source.participants(id.toLowerCase())
      if (all === undefined) return html(reply, 404, problemPage(page, 404, 'No such conversation', `the simulator has no conversation ${id}`))
      const updates = await asyncUpdates(delivery)?.of(caller(req), id.toLowerCase())
      const section = updates && conversationUpdates(updates, authOn)
      const ended = source.endTime && { endTime: source.endTime(id.toLowerCase()), mayEnd: may(req, 'write') }
      const guessed = !sandbox && publicUrl === undefined
      const extras = { updates: section, ended, guessed, cannotWrite: unsignable(req), mayWrite: may(req, 'write'), behind: source.writeBehind !== undefined }
      return html(reply, 200, conversationPage(page, id.toLowerCase(), seen(req, all), writersSeen(req, writes.writers(id.toLowerCase())), authOn, extras))
    } catch (err) {
      if (!(err instanceof ApiError)) throw err
      return html(reply, err.status, problemPage(page, err.status, err.code, err.detail))
    }
  })

  // Polled every second by each open conversation page: logged only when it goes wrong.
  app.get<{ Params: Params }>('/console/conversations/:id/state', { logLevel: 'warn' }, async (req) => {
    const id = req.params.id.toLowerCase()
    const participants = UUID.test(id) ? await source.participants(id) : undefined
    if (participants === undefined) throw new ApiError('CONVERSATION_NOT_FOUND', `no conversation ${req.params.id}`)
    const updates = await asyncUpdates(delivery)?.of(caller(req), id)
    return { participants: seen(req, participants), writers: writersSeen(req, writes.writers(id)), ...(updates && { updates }) }
  })

  app.post<{ Params: Params }>('/console/conversations/:id/participants/:participantId/data', async (req, reply) => {
    const unsigned = unsignable(req)
    if (unsigned) throw new ApiError('OPERATION_NOT_ALLOWED', unsigned)
    const { id, participantId } = req.params
    const res = await viaApi(req, 'POST', `/participants/${encodeURIComponent(id)}/${encodeURIComponent(participantId)}/data`, req.rawBody)
    if (res.statusCode === 200) source.changed(id.toLowerCase())
    return reply.status(res.statusCode).type(res.headers['content-type'] as string).send(res.body)
  })

  // The failed-updates table's "Send again", through the API with the signed-in key.
  app.post<{ Params: { id: string } }>('/console/updates/:id/retry', async (req, reply) => {
    const unsigned = unsignable(req)
    if (unsigned) throw new ApiError('OPERATION_NOT_ALLOWED', unsigned)
    const res = await viaApi(req, 'POST', `/updates/${encodeURIComponent(req.params.id)}/retry`)
    if (res.statusCode === 202) return reply.redirect('/console#async-h', 303)
    const problem = res.json() as { code?: string; detail?: string }
    return html(reply, res.statusCode, problemPage(chrome(req, 'Not sent again'), res.statusCode, problem.code ?? 'Not sent again', problem.detail ?? ''))
  })

  app.get('/console/data-action', async (req, reply) => {
    const query = req.url.slice(req.url.indexOf('?') + 1)
    const res = await viaApi(req, 'GET', `/genesys/data-action?${req.url.includes('?') ? query : ''}`)
    if (res.statusCode === 200) {
      const terraform = new URLSearchParams(query).get('format') === 'terraform'
      reply.header('content-disposition', `attachment; filename="${terraform ? 'data-action.tf' : 'data-action.json'}"`)
      const warning = res.headers[GUESS_HEADER]
      if (typeof warning === 'string') reply.header(GUESS_HEADER, warning)
    }
    return reply.status(res.statusCode).type(res.headers['content-type'] as string).send(res.body)
  })
}
