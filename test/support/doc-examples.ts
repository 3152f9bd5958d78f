/**
 * Writes the documentation's `ts example:*` blocks into a folder, one `NN-NAME.mts` file each in the
 * order they run, and prints the files' names one a line (scripts/consumer-check.sh runs them in a
 * project of their own).
 *
 *   node --import tsx test/support/doc-examples.ts DIR
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { docBlocks, docExamples } from './doc-blocks.js';

const dir = process.argv[2];
if (dir === undefined) {
  process.stderr.write('usage: node --import tsx test/support/doc-examples.ts DIR\n');
  process.exit(2);
}
const root = new URL('../..', import.meta.url).pathname;
await mkdir(dir, { recursive: true });
const examples = docExamples(await docBlocks(root));
for (const [i, ex] of examples.entries()) {
  const name = `${String(i + 1).padStart(2, '0')}-${ex.name}.mts`;
  await writeFile(join(dir, name), `// ${ex.file}: ts example:${ex.name}\n${ex.code}`);
  process.stdout.write(`${name}\n`);
}
