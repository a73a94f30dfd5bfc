import type { LookupAddress } from 'node:dns'
import { lookup as dnsLookupAll } from 'node:dns/promises'
import { BlockList, isIP, type LookupFunction } from 'node:net'
import { Agent } from 'undici'

/**
 * Where a callback may go (docs/crm.md, "Outcome callbacks"). The gateway runs inside a private network, so a callback
 * URL is a way into it: one that names or resolves to a loopback, link-local (cloud metadata
 * lives at 169.254.169.254), private or otherwise non-public address is refused, at start-up and
 * again at every connection (DNS answers can change; a name checked once could later point
 * inside). CALLBACK_ALLOW_PRIVATE=1 lifts it, for receivers on a private network and tests.
 */
const blocked = new BlockList()
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked.addSubnet(net, bits, 'ipv4')
const v6 = [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96], ['2001:db8::', 32]] as const
for (const [net, bits] of v6) blocked.addSubnet(net, bits, 'ipv6')

/** Whether an address is one a callback may not reach: loopback, link-local, private, reserved. */
export function isPrivateAddress (address: string): boolean {
  // An IPv4 address written as IPv6 (::ffff:127.0.0.1) is that IPv4 address.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1]
  if (mapped !== undefined) return isPrivateAddress(mapped)
  const family = isIP(address)
  if (family === 0) return true
  return blocked.check(address, family === 4 ? 'ipv4' : 'ipv6')
}

export type Lookup = (hostname: string) => Promise<LookupAddress[]>

export const systemLookup: Lookup = (hostname) => dnsLookupAll(hostname, { all: true })

/** The URL's host without IPv6 brackets. */
const hostOf = (url: URL) => url.hostname.replace(/^\[|\]$/g, '')

/** What is wrong with sending to `url` now; undefined when nothing is. Resolves the name, as a connection would. */
export async function urlProblem (url: string, allowPrivate: boolean, lookup: Lookup = systemLookup): Promise<string | undefined> {
  if (allowPrivate) return undefined
  const host = hostOf(new URL(url))
  if (isIP(host) !== 0) return isPrivateAddress(host) ? `${host} is a loopback, link-local or private address` : undefined
  let addresses: LookupAddress[]
  try {
    addresses = await lookup(host)
  } catch (err) {
    return `${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`
  }
  const inside = addresses.find((a) => isPrivateAddress(a.address))
  return inside === undefined ? undefined : `${host} resolves to ${inside.address}, a loopback, link-local or private address`
}

/**
 * The callbacks' own connection pool: apart from Genesys's, so a slow receiver never holds a
 * socket Genesys calls need. Every connection's address is checked when it is made (a literal
 * address in the URL is checked before sending: the system connects to it without a lookup).
 */
export function callbackAgent (opts: { allowPrivate: boolean; lookup?: Lookup; timeoutMs: number }): Agent {
  const resolve = opts.lookup ?? systemLookup
  const checked: LookupFunction = (hostname, options, callback) => {
    resolve(hostname).then((all) => {
      const inside = opts.allowPrivate ? undefined : all.find((a) => isPrivateAddress(a.address))
      if (inside !== undefined) {
        const err = Object.assign(new Error(`${hostname} resolves to ${inside.address}, a loopback, link-local or private address; not called (CALLBACK_ALLOW_PRIVATE=1 allows it)`), { code: 'CALLBACK_ADDRESS_REFUSED' })
        return callback(err, '', 4)
      }
      const wanted = all.filter((a) => !options.family || a.family === options.family)
      if (wanted.length === 0) return callback(Object.assign(new Error(`${hostname}: no address`), { code: 'ENOTFOUND' }), '', 4)
      if (options.all) return (callback as unknown as (err: null, all: LookupAddress[]) => void)(null, wanted)
      callback(null, wanted[0]!.address, wanted[0]!.family)
    }, (err: NodeJS.ErrnoException) => callback(err, '', 4))
  }
  return new Agent({
    connect: { lookup: checked, timeout: opts.timeoutMs },
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
    connections: 64,
    keepAliveTimeout: 10_000,
  })
}
