// `npm run lint:deps`: each room imports only what its row in the rooms table of
// docs/architecture.md names (the table is read here: an import the row does not name fails),
// nothing imports in a circle (type-only imports included), and a room is entered through its
// door. Run in .ci/run.
const { readdirSync, readFileSync } = require('node:fs')
const { join } = require('node:path')

const TOOLS = ['console', 'doctor', 'sim']
const tools = `^src/(${TOOLS.join('|')})/`
/** The root files a row may name. */
const ROOT_FILES = ['domain', 'errors', 'config', 'clock', 'app']

/**
 * The table's rows: `src/<room>/` or `src/<file>.ts`, and the rooms and root files it may import.
 * A row it cannot read, a name that is no room, or a folder of src/ without a row stops lint:deps.
 */
function roomsTable () {
  const page = readFileSync(join(__dirname, 'docs/architecture.md'), 'utf8').replace(/\r\n/g, '\n')
  const start = page.indexOf('| room | holds | imports |\n|---|---|---|\n')
  if (start < 0) throw new Error('docs/architecture.md: the rooms table ("| room | holds | imports |") was not found')
  const toolsRow = `| ${TOOLS.map((t) => `\`src/${t}/\``).join(', ')} |`
  const rows = []
  for (const line of page.slice(start).split('\n').slice(2)) {
    if (line.trim() === '') break
    if (line.startsWith(toolsRow)) continue // the tools: any room, through its door
    const row = /^\| `src\/([\w-]+)(\/|\.ts)` \|.*\| ([^|]*) \|\s*$/.exec(line)
    if (row === null) throw new Error(`docs/architecture.md: a row of the rooms table that lint:deps cannot read: ${line}`)
    rows.push(row)
  }
  const rooms = new Set(rows.map(([, name]) => name))
  for (const dir of readdirSync(join(__dirname, 'src'), { withFileTypes: true })) {
    if (dir.isDirectory() && !rooms.has(dir.name) && !TOOLS.includes(dir.name)) throw new Error(`docs/architecture.md: src/${dir.name}/ has no row in the rooms table`)
  }
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
