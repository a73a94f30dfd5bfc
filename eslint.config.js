// neostandard: the Fastify and pino projects' own style (standard, with TypeScript), plus a line limit.
import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'coverage/**', '.tap/**', '.bench/**'] }),
  {
    rules: {
      // `void promise` marks a promise deliberately left to run; elsewhere void stays refused.
      'no-void': ['error', { allowAsStatement: true }],
      // Long string literals (messages, descriptions) read better whole than split.
      '@stylistic/max-len': ['error', { code: 160, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreUrls: true }],
    },
  },
  {
    // Data Actions are Velocity templates: `${input.x}` and `${credentials.apiKey}` are meant literally.
    files: ['src/data-action/**', 'test/data-action/**', 'test/integration/data-action.test.ts'],
    rules: { 'no-template-curly-in-string': 'off' },
  },
]
