// The simulator's own routes, under /__sim, apart from the Genesys-shaped paths and without a token.
import type { FastifyInstance } from 'fastify'
import { fail } from './replies.js'
import type { State } from './state.js'
import type { SimStats } from './stats.js'

export function adminRoutes (app: FastifyInstance, { stats, state }: { stats: SimStats; state: State }) {
  // Test and operator views of the simulator's own state.
  app.get('/__sim/stats', async () => stats)

  app.get<{ Params: { id: string } }>('/__sim/conversations/:id', async (req, reply) => state.get(req.params.id) ?? fail(reply, 404, 'not.found', 'unknown conversation'))
}
