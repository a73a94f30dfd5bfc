import type { Socket } from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import { ApiError, toProblem } from '../errors.ts'

/** Node's own refusals, before any request exists, in catalogue terms. */
function problemOf (err: NodeJS.ErrnoException): ApiError {
  switch (err.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new ApiError('REQUEST_TIMEOUT', 'the request (its headers and body) did not arrive within HTTP_REQUEST_TIMEOUT_MS (headers: HTTP_HEADERS_TIMEOUT_MS); nothing was done')
    case 'HPE_HEADER_OVERFLOW':
      return new ApiError('HEADERS_TOO_LARGE', 'the request\'s headers are larger than this server takes (16 KiB); nothing was done')
    case 'HPE_INVALID_TRANSFER_ENCODING':
      if (!/content-length/i.test(err.message)) return new ApiError('BAD_REQUEST', 'the request\'s Transfer-Encoding is not one this server reads (it must end in chunked); nothing was done')
    // falls through: Transfer-Encoding beside Content-Length
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return new ApiError('BAD_REQUEST', 'the request has both Content-Length and Transfer-Encoding, so its length is ambiguous; send one of them; nothing was done')
    case 'HPE_INVALID_METHOD':
    case 'HPE_INVALID_URL':
    case 'HPE_INVALID_VERSION':
      return new ApiError('BAD_REQUEST', 'the request line is malformed (it must be METHOD /path HTTP/1.1); nothing was done')
    default:
      return new ApiError('BAD_REQUEST', 'the request is malformed HTTP (a bad header, length or chunk); nothing was done')
  }
}

/**
 * Fastify's `clientErrorHandler`: what Node refuses before a request exists (a malformed request
 * line, Content-Length with Transfer-Encoding, a request that took too long to arrive) is answered
 * as every other refusal is, problem+json with a catalogue code, and the connection closed.
 */
export function clientError (this: { log: FastifyBaseLogger }, err: NodeJS.ErrnoException, socket: Socket): void {
  // Reset by the client, or already gone: nobody is left to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const problem = problemOf(err)
  this.log.debug({ code: err.code, answered: problem.code }, 'malformed request refused by the HTTP parser')
  // A request whose answer has begun (its body timed out mid-handler) cannot get a second one.
  if (socket.writable && (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent !== true) {
    const { instance: _, ...body } = toProblem(problem, '')
    const text = JSON.stringify(body)
    const head = [`HTTP/1.1 ${problem.status} ${reason(problem.status)}`, 'Content-Type: application/problem+json', `Content-Length: ${Buffer.byteLength(text)}`, 'Connection: close']
    // Closed once written: the client may keep its side open, or keep trickling.
    socket.end(`${head.join('\r\n')}\r\n\r\n${text}`, () => socket.destroy())
    return
  }
  socket.destroy()
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' }
const reason = (status: number) => REASONS[status] ?? 'Bad Request'
