import path from 'node:path';

/** Directory holding the platform's gRPC .proto files (shipped next to the compiled code). */
export const PROTO_DIR = path.join(__dirname, 'proto');

export const PROTO_FILES = {
  registry: path.join(PROTO_DIR, 'registry.proto'),
  ingestion: path.join(PROTO_DIR, 'ingestion.proto'),
  usage: path.join(PROTO_DIR, 'usage.proto'),
} as const;
