import { request, type Dispatcher } from 'undici'
import { fromNetwork, fromResponse, type Operation } from './upstream-error.js'

export interface HttpOptions {
  dispatcher: Dispatcher
  timeoutMs: number
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
  let res: Dispatcher.ResponseData
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
}
