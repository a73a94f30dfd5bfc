// `npm run lint:deps`: each room imports only what the rooms table of docs/architecture.md says
// (the table is read here, so the page and the rule cannot drift apart), nothing imports in a
// circle (type-only imports included), and a room is entered through its door. Run in .ci/run.
const { readFileSync } = require('node:fs')
const { join } = require('node:path')

const tools = '^src/(console|doctor|sim)/'
const ROOT_FILES = ['domain', 'errors', 'config', 'clock', 'app']

/** The table's rows: `src/<room>/` or `src/<file>.ts`, and the rooms and root files it may import. */
function roomsTable () {
  const page = readFileSync(join(__dirname, 'docs/architecture.md'), 'utf8')
  const rows = [...page.matchAll(/^\| `src\/([\w-]+)(\/|\.ts)` \|[^|]*\| ([^|]*) \|$/gm)]
  if (rows.length < 10) throw new Error('docs/architecture.md: the rooms table was not found')
  const rooms = new Set(rows.map(([, name]) => name))
  return rows.map(([, name, kind, imports]) => {
    const allowed = imports.trim() === 'nothing' ? [] : imports.replace(/\([^)]*\)/g, '').split(',').map((s) => s.trim())
    for (const a of allowed) if (!rooms.has(a) && !ROOT_FILES.includes(a)) throw new Error(`docs/architecture.md: ${name} may import "${a}", which is no room`)
    const path = (n) => (ROOT_FILES.includes(n) ? `^src/${n}\\.ts$` : `^src/${n}/`)
    return { name, from: kind === '/' ? `^src/${name}/` : `^src/${name}\\.ts$`, allowed: allowed.map(path) }
  })
}

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'an import circle, type-only ones included', from: {}, to: { circular: true } },
    ...roomsTable().map(({ name, from, allowed }) => ({
      name: `${name}-imports-what-architecture-md-says`,
      severity: 'error',
      comment: `docs/architecture.md, "Rooms": what ${name} may import; change the table first`,
      from: { path: from },
      to: { path: '^src/', pathNot: [from, ...allowed] },
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
