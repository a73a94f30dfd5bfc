import { readFile } from 'node:fs/promises'

/** The first ```sh block under a README heading (up to the next heading of that level), as a user would paste it. */
export async function readmeShell (heading: string): Promise<string> {
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8')
  const level = heading.match(/^#+ /)?.[0] ?? '## '
  const section = readme.split(`\n${heading}\n`)[1]?.split(`\n${level}`)[0] ?? ''
  const block = section.match(/```sh\n([\s\S]*?)```/)?.[1]
  if (!block) throw new Error(`README.md has no shell snippet under "${heading}"`)
  return block
}
