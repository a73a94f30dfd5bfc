import { readdir, readFile } from 'node:fs/promises'

const root = new URL('../../', import.meta.url)

/** README.md and every page under docs/, as a user reads them. */
export async function docPages (): Promise<Array<{ file: string; text: string }>> {
  const pages = (await readdir(new URL('docs/', root))).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)
  return Promise.all(['README.md', ...pages].map(async (file) => ({ file, text: await readFile(new URL(file, root), 'utf8') })))
}

/**
 * What follows `<!-- marker: … -->` in whichever page holds it, so a command keeps its test
 * when it moves between the README and docs/.
 */
export async function marked (marker: string): Promise<string> {
  const holders = (await docPages()).filter((p) => p.text.includes(`<!-- ${marker}:`))
  if (holders.length !== 1) throw new Error(`"<!-- ${marker}:" is in ${holders.length} pages (README.md, docs/); it must be in one`)
  return holders[0]!.text.split(`<!-- ${marker}:`)[1]!
}

/** The first ```sh block after the marker, as a user would paste it. */
export async function markedShell (marker: string): Promise<string> {
  const block = (await marked(marker)).match(/```sh\n([\s\S]*?)```/)?.[1]
  if (!block) throw new Error(`no shell snippet after "<!-- ${marker}:"`)
  return block
}
