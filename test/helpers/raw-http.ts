import { connect, type Socket } from 'node:net'

export interface RawAnswer {
  /** Everything the server sent before it closed the connection. */
  text: string
  status: number | undefined
  headers: Record<string, string>
  body: string
}

/** Opens a plain TCP connection to an http://host:port URL. */
export function open (url: string): Promise<Socket> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => resolve(socket))
    socket.once('error', reject)
  })
}

/** What the server sends on `socket` until it closes it: resolves on the server's close, never on a timer. */
export function answerOf (socket: Socket): Promise<RawAnswer> {
  return new Promise((resolve) => {
    let text = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => { text += chunk })
    socket.on('error', () => {})
    socket.once('close', () => {
      const [head = '', ...rest] = text.split('\r\n\r\n')
      const [line = '', ...fields] = head.split('\r\n')
      const headers = Object.fromEntries(fields.map((f) => [f.slice(0, f.indexOf(':')).toLowerCase(), f.slice(f.indexOf(':') + 1).trim()]))
      resolve({ text, status: /^HTTP\/1\.1 (\d{3})/.exec(line)?.[1] === undefined ? undefined : Number(/^HTTP\/1\.1 (\d{3})/.exec(line)![1]), headers, body: rest.join('\r\n\r\n') })
    })
  })
}

/** Sends `bytes` as they are on a new connection and reads until the server closes it. */
export async function exchange (url: string, bytes: string): Promise<RawAnswer> {
  const socket = await open(url)
  const answer = answerOf(socket)
  socket.write(bytes, 'latin1')
  return answer
}
