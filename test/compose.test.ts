import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { isCheckpoint, isRow, type Checkpoint } from '../src/core/checkpoint.js';
import { filterStage, mapStage, selectStage, teeSink } from '../src/compose.js';
import { FieldCatalog } from '../src/schema/custom-fields.js';
import { FlattenStream } from '../src/flatten/flatten-stream.js';
import type { TicketRow } from '../src/flatten/flatten.js';
import { TicketSource } from '../src/source/ticket-source.js';
import { startMock, tokenCredentials } from './helpers.js';

/** A sink that collects rows and acknowledges each checkpoint once it has seen it. */
function collector(rows: unknown[], acks: Checkpoint[]): Writable {
  return new Writable({
    objectMode: true,
    write(item: unknown, _enc, done) {
      if (isCheckpoint(item)) {
        acks.push(item);
        this.emit('commit', item);
      } else rows.push(item);
      done();
    },
  });
}

describe('compose: typed stages that pass checkpoints through', () => {
  it('a ten-line custom pipeline: filter, map, select and a tee; checkpoints arrive in order at both sinks', async () => {
    const mock = await startMock({ tickets: 1200 });
    const a: unknown[] = [];
    const b: unknown[] = [];
    const acksA: Checkpoint[] = [];
    const acksB: Checkpoint[] = [];
    const teeAcks: Checkpoint[] = [];
    const tee = teeSink(collector(a, acksA), collector(b, acksB));
    tee.on('commit', (cp: Checkpoint) => teeAcks.push(cp));
    await pipeline(
      new TicketSource({ origin: mock.url, credentials: tokenCredentials(mock), rateLimit: 0, perPage: 300 }),
      new FlattenStream({ catalog: new FieldCatalog() }),
      filterStage<TicketRow>((t) => t.status === 'open'),
      mapStage<TicketRow, { id: number; subject_length: number }>((t) => ({ id: t.id as number, subject_length: String(t.subject ?? '').length })),
      selectStage<{ id: number; subject_length: number }>({ id: 'ticket_id', subject_length: 'len' }),
      tee,
    );
    const open = mock.expectedTickets().filter((t) => mock.ticketJson(t.id).status === 'open');
    expect(a.length).toBe(open.length);
    expect(b).toEqual(a);
    expect(a[0]).toEqual({ ticket_id: expect.any(Number), len: expect.any(Number) });
    expect(acksA.length).toBe(4);
    expect(acksB.map((c) => c.page)).toEqual([1, 2, 3, 4]);
    expect(teeAcks.map((c) => c.page)).toEqual([1, 2, 3, 4]);
  });

  it('types flow: the source iterates typed items, and a map stage checks what it returns', async () => {
    const mock = await startMock({ tickets: 10 });
    const source = new TicketSource({ origin: mock.url, credentials: tokenCredentials(mock), rateLimit: 0 });
    let sum = 0;
    for await (const item of source) {
      if (isRow(item)) sum += item.id; // item: ZendeskTicket, id: number
    }
    expect(sum).toBe(55);
    // @ts-expect-error: the map promises { id: number } and returns a string id
    mapStage<TicketRow, { id: number }>((t) => ({ id: String(t.id) }));
    expect(() => selectStage({})).toThrow(/columns must be at least one column/);
  });
});
