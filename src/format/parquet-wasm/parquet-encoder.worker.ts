import { parentPort } from 'node:worker_threads';
import type { FromEncoder, ToEncoder } from './encoder-protocol.js';
import { EncoderService } from './encoder-service.js';
import { wasmMemoryBytes } from './wasm-encoder.js';

/**
 * The encoding thread: parquet-wasm is loaded (and its 5 MB module compiled) once, when the thread
 * starts; then it encodes the files the main thread opens on it (encoder-service.ts). A WebAssembly
 * trap ends the thread (the main thread terminates it): its pool starts another for the next file.
 */

const port = parentPort;
if (!port) throw new Error('parquet-encoder.worker runs as a worker thread');
const post = (m: FromEncoder, transfer: ArrayBuffer[]): void => port.postMessage(m, transfer);
const service = new EncoderService(post, {
  transfer: true,
  onFatal: (_reason, now) => {
    // After a trap, the main thread terminates this thread once it has read the error (exiting here
    // could overtake that message); this is only the fallback. An injected `exit` ends it at once.
    if (now) process.exit(1);
    setTimeout(() => process.exit(1), 5_000);
  },
});
port.on('message', (m: ToEncoder) => service.handle(m));
post({ type: 'ready', wasmMemory: wasmMemoryBytes() }, []);
