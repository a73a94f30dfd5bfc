// `npm run lint:deps`: the rooms of docs/architecture.md may import only what its table says, and
// nothing imports in a circle (type-only imports included). Run in .ci/run.
const tools = '^src/(console|doctor|sim)/'
const core = (room) => `^src/${room}/`

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'an import circle, type-only ones included', from: {}, to: { circular: true } },
    { name: 'domain-imports-nothing', severity: 'error', comment: 'src/domain.ts holds the shared words; it depends on no room', from: { path: '^src/domain\\.ts$' }, to: { path: '^src/' } },
    {
      name: 'leaf-rooms',
      severity: 'error',
      comment: 'attributes, json and observability stand alone: the domain, the error catalogue, and their own files',
      from: { path: '^src/(attributes|json|observability)/' },
      to: { path: '^src/', pathNot: ['^src/(domain|errors)\\.ts$', '^src/$1/'] },
    },
    {
      name: 'http-and-access-below-the-features',
      severity: 'error',
      comment: 'the HTTP layer and access control serve every route; they know nothing of what the routes do',
      from: { path: '^src/(http|access)/' },
      to: { path: '^src/(genesys|updates|delivery|idempotency|routes|data-action)/' },
    },
    // The pipeline's layers, lowest first: each knows nothing of those above it.
    ...[
      ['coordination', 'what replicas share through Redis knows nothing of the Genesys client, the pipeline or routes'],
      ['genesys', 'the Genesys client knows nothing of the queue, delivery or routes'],
      ['updates', 'the write pipeline knows nothing of asynchronous delivery, idempotency or routes'],
      ['delivery', 'asynchronous delivery knows nothing of idempotency or routes'],
    ].map(([room, comment], i, layers) => ({
      name: `${room}-below-${layers[i + 1]?.[0] ?? 'routes'}`,
      severity: 'error',
      comment,
      from: { path: core(room) },
      to: { path: `^src/(${[...layers.slice(i + 1).map(([r]) => r), 'routes', 'idempotency', 'data-action'].join('|')})/` },
    })),
    {
      name: 'through-the-door',
      severity: 'error',
      comment: 'a room is used through its door, its index.ts, which opens with its concepts; the rest of the room is its own',
      from: { path: '^src/([^/]+)/' },
      to: { path: '^src/[^/]+/', pathNot: ['^src/$1/', '^src/[^/]+/index\\.ts$'] },
    },
    {
      name: 'through-the-door-at-the-root',
      severity: 'error',
      comment: 'the files that put the service together (app.ts, services.ts, server.ts, config.ts) use the rooms through their doors too',
      from: { path: '^src/[^/]+\\.ts$' },
      to: { path: '^src/[^/]+/', pathNot: ['^src/[^/]+/index\\.ts$'] },
    },
    {
      name: 'tools-apart',
      severity: 'error',
      comment: 'the console, doctor and simulator use the gateway; the gateway never uses them (the entry points wire the sandbox)',
      from: { pathNot: [tools, '^src/(server|app)\\.ts$'] },
      to: { path: tools },
    },
  ],
  options: {
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)/' },
  },
}
