import { request, type Dispatcher } from 'undici'
import { fromNetwork, fromResponse, type Operation } from './upstream-error.js'

export interface HttpOptions {
  dispatcher: Dispatcher
  timeoutMs: number
  /** Told of every exchange once it ends, for metrics and the upstream log. */
  onExchange?: (e: Exchange) => void
}

export interface Exchange {
  op: Operation
  /** The HTTP status, or 0 when no answer came. */
  status: number
  ms: number
  /** Genesys's inin-correlation-id, which its support asks for. */
  correlationId: string | undefined
}

export interface Sent {
  method: Dispatcher.HttpMethod
  url: string
  headers: Record<string, string>
  body?: string
}

/**
 * One upstream exchange. Returns the 2xx body as text; turns every other outcome into a
 * catalogue error, so callers only ever see success or an ApiError.
 */
export async function exchange(op: Operation, req: Sent, opts: HttpOptions): Promise<string> {
  const started = performance.now()
  let res: Dispatcher.ResponseData | undefined
  try {
    try {
      res = await request(req.url, {
        method: req.method,
        headers: req.headers,
        body: req.body,
        dispatcher: opts.dispatcher,
        headersTimeout: opts.timeoutMs,
        bodyTimeout: opts.timeoutMs,
      })
    } catch (err) {
      throw fromNetwork(op, err)
    }
    const ok = res.statusCode >= 200 && res.statusCode < 300
    let text: string
    try {
      text = await res.body.text()
    } catch (err) {
      // A write whose 2xx status line arrived has landed, even if its (empty) body was cut off.
      if (ok && op === 'patchAttributes') return ''
      throw fromNetwork(op, err)
    }
    if (ok) return text
    throw fromResponse(op, res.statusCode, res.headers, text)
  } finally {
    if (opts.onExchange) {
      const id = res?.headers['inin-correlation-id']
      opts.onExchange({ op, status: res?.statusCode ?? 0, ms: performance.now() - started, correlationId: Array.isArray(id) ? id[0] : id })
    }
  }
}
