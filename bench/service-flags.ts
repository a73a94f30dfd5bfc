/**
 * The Node flags in a package.json's `npm start`, which must end in `[exec] node [flags] dist/server.js`
 * (the Dockerfile's CMD runs the same; a test keeps the two equal). The bench reads them so that
 * it runs the service as it is run, at any revision.
 */
export function serviceFlags (packageJson: string): string[] {
  const start = (JSON.parse(packageJson) as { scripts?: { start?: string } }).scripts?.start ?? ''
  // `exec` hands the shell's place to node, so a signal sent to npm start reaches the service.
  const words = (start.split('&&').at(-1) ?? '').trim().replace(/^exec\s+/, '').split(/\s+/)
  const flags = words.slice(1, -1)
  if (words[0] !== 'node' || words.at(-1) !== 'dist/server.js' || flags.some((f) => !/^--[\w-]+(=\S+)?$/.test(f))) {
    throw new Error(`npm start must end in "[exec] node [--flag=value ...] dist/server.js"; it is: ${JSON.stringify(start)}`)
  }
  return flags
}
