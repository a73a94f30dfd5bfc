import { isIP } from 'node:net'
import fp from 'fastify-plugin'
import { ApiError } from '../errors.ts'

export interface HostCheckOptions {
  /** On where nothing else stands between a browser's page and the API: sandbox, or no API keys. */
  enabled: boolean
  /** Host names the service is reached by besides IP addresses and localhost: HOST, PUBLIC_URL's. */
  names: ReadonlyArray<string | undefined>
}

/** The name in a Host header, lower-cased, without its port; undefined when it is not one. */
function hostName (header: string): string | undefined {
  try {
    return new URL(`http://${header}`).hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase()
  } catch {
    return undefined
  }
}

/**
 * DNS rebinding: a page on another site can point its own name at 127.0.0.1 and then call this
 * service from the browser as if same-origin. With no key to present, nothing else would stop it,
 * so a request must name the service as the browser really reached it: an IP address, localhost,
 * the HOST it listens on, or PUBLIC_URL's host. A rebinding page can only send its own name.
 */
export default fp<HostCheckOptions>(
  async (app, { enabled, names }) => {
    if (!enabled) return
    const allowed = new Set(names.flatMap((n) => (n === undefined ? [] : [hostName(n)])).filter((n) => n !== undefined))
    app.addHook('onRequest', (req, _reply, done) => {
      const header = req.headers.host
      // No Host at all (HTTP/1.0): not a browser, which always sends one.
      if (header === undefined) return done()
      const name = hostName(header)
      if (name !== undefined && (isIP(name) !== 0 || name === 'localhost' || name.endsWith('.localhost') || allowed.has(name))) return done()
      done(new ApiError('HOST_NOT_ALLOWED', `this service does not answer to Host ${JSON.stringify(header.slice(0, 100))}: use its address, localhost, or set PUBLIC_URL to the name it is reached by`))
    })
  },
  { name: 'host-check', dependencies: ['problems'] }
)
