declare module 'parquetjs-lite' {
  import type { Writable } from 'node:stream';

  export interface ParquetFieldDefinition {
    type?: string;
    optional?: boolean;
    repeated?: boolean;
    compression?: 'UNCOMPRESSED' | 'GZIP' | 'SNAPPY';
    encoding?: 'PLAIN' | 'RLE';
    fields?: Record<string, ParquetFieldDefinition>;
  }

  export class ParquetSchema {
    constructor(fields: Record<string, ParquetFieldDefinition>);
  }

  export interface ParquetWriterOptions {
    rowGroupSize?: number;
    pageSize?: number;
    useDataPageV2?: boolean;
    /** Write the column and offset indexes (their offsets are wrong for repeated columns). */
    pageIndex?: boolean;
  }

  export class ParquetWriter {
    static openStream(schema: ParquetSchema, stream: Writable, opts?: ParquetWriterOptions): Promise<ParquetWriter>;
    appendRow(row: Record<string, unknown>): Promise<void>;
    close(): Promise<void>;
    setRowGroupSize(rows: number): void;
    setPageSize(rows: number): void;
  }

  const parquet: { ParquetSchema: typeof ParquetSchema; ParquetWriter: typeof ParquetWriter };
  export default parquet;
}
