import { randomUUID } from 'node:crypto';
import { rssMb, stackVar, startInstance, type ServiceInstance } from '@metering/testing';
import { adminKey, auditDatabase, newAccountId } from './audit-fixtures';

const ENTRIES = 200_000;
const CHANGE_CHARS = 1_500;
const HEAP_MB = 64;

describe('audit export', () => {
  const accountId = newAccountId();
  // A database of its own (created and migrated by the instance), dropped afterwards: audit
  // entries cannot be deleted, so the bulk rows stay out of the stack's log.
  const database = `audit_e2e_export_${randomUUID().slice(0, 8)}`;
  let instance: ServiceInstance;

  beforeAll(async () => {
    // A heap far smaller than the export: an instance that buffered it would die of it.
    instance = await startInstance('audit', {
      DATABASE_URL: `${stackVar('POSTGRES_URL')}/${database}`,
      NODE_OPTIONS: `--max-old-space-size=${HEAP_MB}`,
      AUDIT_TOPICS: `e2e-${randomUUID().slice(0, 8)}.events.v1`,
      AUDIT_CONSUMER_GROUP: `audit.e2e-export-${randomUUID().slice(0, 8)}`,
    });
    // Rows written straight into the database (their hashes are not a chain): this measures streaming only.
    const db = await auditDatabase(database);
    try {
      await db.query(
        `INSERT INTO audit_entries (account_id, seq, event_id, occurred_at, recorded_at, actor_type, actor_id, action,
           target_type, target_id, target_version, change, source, prev_hash, hash)
         SELECT $1, g, gen_random_uuid(), now(), now(), 'service', 'e2e', 'bulk.written', 'bulk', g::text, 1,
           json_build_object('n', g, 'pad', repeat('x', $3)), 'e2e', md5(g::text), md5(g::text)
         FROM generate_series(1, $2) g`,
        [accountId, ENTRIES, CHANGE_CHARS],
      );
    } finally {
      await db.end();
    }
  });

  afterAll(async () => {
    await instance.stop();
    const server = await auditDatabase('postgres');
    try {
      await server.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    } finally {
      await server.end();
    }
  });

  it('streams a log many times larger than the memory it uses', async () => {
    const memory = () => rssMb(instance.pid) ?? 0;
    const before = memory();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, memory())), 50);
    let bytes = 0;
    let lines = 0;
    try {
      const res = await fetch(`${instance.url}/v1/audit/export?accountId=${accountId}&format=ndjson`, {
        headers: { authorization: `Bearer ${adminKey()}` },
      });
      expect(res.status).toBe(200);
      for await (const chunk of res.body!) {
        bytes += chunk.byteLength;
        for (const byte of chunk as Uint8Array) if (byte === 10) lines++;
      }
    } finally {
      clearInterval(sampler);
    }
    const exportedMb = bytes / 1024 / 1024;
    expect(lines).toBe(ENTRIES);
    expect(exportedMb).toBeGreaterThan(300);
    // Buffering the export would grow the process by at least its size.
    expect(peak - before).toBeLessThan(exportedMb / 4);
  });
});
