// Imported first by the process entry, so it runs before any dependency loads (undici 8 fails on
// older Node with an unhelpful TypeError). Numbers are kept as the caller wrote them through
// JSON.parse's source text, which Node 22 and later give; the service is built and tested on 24.
const major = Number(process.versions.node.split('.')[0])
if (major < 24) {
  console.error(`participant-data-gateway needs Node.js 24 (LTS); this is ${process.version}. \`npm start\` runs the Node 24 that \`npm ci\` installs (the \`node\` dev dependency); \`node dist/server.js\` needs Node 24 on PATH.`)
  process.exit(1)
}
