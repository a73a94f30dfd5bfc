/**
 * The Node flags in a package.json's `npm start`, which must end in `node [flags] dist/server.js`
 * (the Dockerfile's CMD runs the same; a test keeps the two equal). The bench reads them so that
 * it runs the service as it is run, at any revision.
 */
export function serviceFlags (packageJson: string): string[] {
  const start = (JSON.parse(packageJson) as { scripts?: { start?: string } }).scripts?.start ?? ''
  const words = (start.split('&&').at(-1) ?? '').trim().split(/\s+/)
  const flags = words.slice(1, -1)
  if (words[0] !== 'node' || words.at(-1) !== 'dist/server.js' || flags.some((f) => !/^--[\w-]+(=\S+)?$/.test(f))) {
    throw new Error(`npm start must end in "node [--flag=value ...] dist/server.js"; it is: ${JSON.stringify(start)}`)
  }
  return flags
}
