import { installChdb } from './support/chdb-install.js';

/** vitest globalSetup: chDB, the independent Delta reader, installed once into a cache folder. */
export default function setup(): void {
  installChdb();
}
