import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export type VersionName = 'before' | 'after';

/** `--flag VALUE` of `argv`, or undefined. */
export function flag(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** The two CLIs compared: `--before PATH` (required) and `--after PATH` (default: this checkout's dist). */
export function clisOf(argv: readonly string[]): Record<VersionName, string> {
  const before = flag(argv, '--before');
  if (!before) throw new Error('--before PATH (the 0.1.0 build: dist/src/cli/main.js) is required');
  const after = flag(argv, '--after') ?? join(import.meta.dirname, '../../dist/src/cli/main.js');
  for (const p of [before, after]) if (!existsSync(p)) throw new Error(`no CLI at ${p}`);
  return { before: resolve(before), after: resolve(after) };
}
