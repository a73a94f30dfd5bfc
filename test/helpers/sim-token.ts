import type { Simulator } from '../../src/sim/simulator.ts'

/** A token from the simulator's sandbox client, asked in-process (inject), as a Genesys client asks for one. */
export async function simToken (sim: Simulator): Promise<string> {
  const res = await sim.app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { authorization: 'Basic ' + Buffer.from('sandbox:sandbox').toString('base64'), 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'grant_type=client_credentials',
  })
  return res.json().access_token as string
}
