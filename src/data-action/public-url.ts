import { z } from 'zod'

/**
 * PUBLIC_URL: where Genesys and browsers reach this service, when that is not where it listens
 * (a TLS-terminating proxy, a load balancer). The Data Action export and the console use it;
 * without it they can only guess from the request, which behind a proxy gives the proxy's
 * view: http:// and an internal host.
 */
export const publicUrl = z.preprocess(
  (v) => (v === '' ? undefined : v),
  z
    .string()
    .refine((u) => {
      const url = URL.parse(u)
      return url !== null && /^https?:$/.test(url.protocol) && url.username === '' && url.password === '' && url.search === '' && url.hash === ''
    }, 'must be an absolute http(s) URL without user, query or fragment, such as https://gateway.example.com')
    .transform((u) => u.replace(/\/+$/, ''))
    .optional()
)

export const isHttps = (url: string | undefined) => url?.startsWith('https:') === true

/** The base URL an export names: the one given (or PUBLIC_URL), else the request's own view, flagged as a guess. */
export function exportBase (configured: string | undefined, req: { protocol: string; host: string }): { baseUrl: string; guessed: boolean } {
  return configured !== undefined ? { baseUrl: configured, guessed: false } : { baseUrl: `${req.protocol}://${req.host}`, guessed: true }
}

/** Sent with an export whose URL was guessed outside sandbox: a header, so the import JSON stays exactly Genesys's format. */
export const GUESS_HEADER = 'data-action-warning'

export const guessWarning = (baseUrl: string) =>
  `PUBLIC_URL is not set, so the URL in this Data Action (${baseUrl}) was guessed from the request; behind a proxy it is likely wrong. Set PUBLIC_URL to where Genesys reaches this service.`
