import type { IncomingHttpHeaders } from 'node:http'
import type { Dispatcher } from 'undici'
import { fromNetwork, fromResponse, type UpstreamOp } from './upstream-error.ts'

export interface HttpOptions {
  dispatcher: Dispatcher
  timeoutMs: number
  /** Told of every exchange once it ends, for metrics and the upstream log. */
  onExchange?: (e: Exchange) => void
}

export interface Exchange {
  op: UpstreamOp
  /** The HTTP status, or 0 when no answer came. */
  status: number
  ms: number
  /** Genesys's inin-correlation-id, which its support asks for. */
  correlationId: string | undefined
  /** The answer's headers (empty when none came): the budget reads a 429's Retry-After. */
  headers: IncomingHttpHeaders
}

export interface Sent {
  method: Dispatcher.HttpMethod
  /** Where to: an origin (scheme, host, port) and the path on it. */
  origin: string
  path: string
  headers: Record<string, string>
  body?: string
  /**
   * The caller needs only the status: a 2xx status line is then the whole answer, even when the
   * (empty or ignored) body is cut off after it. A write's 202 means it landed.
   */
  statusOnly?: boolean
}

/** A base URL as the origin and the path prefix every request path goes under. */
export function base (url: string): { origin: string; prefix: string } {
  const u = new URL(url)
  return { origin: u.origin, prefix: u.pathname.replace(/\/+$/, '') }
}

/**
 * One upstream exchange. Resolves with the 2xx body as text; turns every other outcome into an
 * UpstreamError, so callers only ever see success or an UpstreamError.
 *
 * Uses undici's dispatch() with a handler of its own rather than request(): the body is a
 * small JSON document read whole, so request()'s body stream and async resource would be a
 * large share of the client's CPU time per call for nothing (BENCHMARKS.md has the figures).
 */
export function exchange (op: UpstreamOp, req: Sent, opts: HttpOptions): Promise<string> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    let status = 0
    let headers: IncomingHttpHeaders = {}
    let chunks: Buffer[] = []
    let settled = false
    // Set once undici starts writing the request: a failure before that sent nothing.
    let writing = false
    const ok = () => status >= 200 && status < 300
    /**
     * Reports the exchange, then settles the call, once. Nothing thrown here may reach undici (it
     * would leave the call pending, or surface as an uncaught error): a throwing onExchange
     * rejects the call instead, as it did from a `finally` before.
     */
    const settle = (text: string | undefined, err?: unknown) => {
      if (settled) return
      settled = true
      try {
        if (opts.onExchange) {
          const id = headers['inin-correlation-id']
          opts.onExchange({ op, status, ms: performance.now() - started, correlationId: Array.isArray(id) ? id[0] : id, headers })
        }
      } catch (thrown) {
        return reject(thrown)
      }
      if (text !== undefined) resolve(text)
      else reject(err)
    }
    const fail = (err: unknown) => {
      if (ok() && req.statusOnly === true) settle('')
      else settle(undefined, fromNetwork(op, err, writing))
    }
    const handler: Dispatcher.DispatchHandler = {
      // Its presence tells undici this handler speaks the current (controller) API. undici calls
      // it just before writing the request, after the connection is up.
      onRequestStart () {
        writing = true
      },
      onResponseStart (_controller, statusCode, responseHeaders) {
        if (statusCode < 200) return // informational (103 Early Hints): the real answer follows
        status = statusCode
        headers = responseHeaders
      },
      onResponseData (_controller, chunk) {
        chunks.push(chunk)
      },
      onResponseEnd () {
        const text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')
        chunks = []
        if (ok()) settle(text)
        else settle(undefined, fromResponse(op, status, headers, text))
      },
      onResponseError (_controller, err) {
        fail(err)
      },
    }
    // Failures to dispatch (a destroyed or closed pool, say) come back through onResponseError.
    const { origin, path, method, body } = req
    opts.dispatcher.dispatch({ origin, path, method, headers: req.headers, body, headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs }, handler)
  })
}
