import { randomBytes, randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { ChainSigner, canonicalJson, decodeCursor, type AuditDraft } from '@metering/audit-domain';
import { createDataSource, openScratchDatabase, urlForRole } from '@metering/persistence';
import { stackVar, uniqueName } from '@metering/testing';
import { AuditStore } from './audit-store';
import { auditMigrations } from './migrations';

const ROLE = { name: 'audit_it_app', password: 'audit_it_app' };
const signer = new ChainSigner(randomBytes(32).toString('base64url'));
const all = 'all-accounts' as const;

let seqNo = 0;
function draft(accountId: string, patch: Partial<AuditDraft> = {}): AuditDraft {
  seqNo++;
  return {
    eventId: randomUUID(),
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, seqNo)).toISOString(),
    recordedAt: new Date().toISOString(),
    accountId,
    tenantId: `ten_${seqNo % 3}`,
    actor: { type: 'management-key', id: `mk_${seqNo % 2}` },
    action: seqNo % 2 ? 'tenant.updated' : 'api_key.issued',
    target: { type: 'tenant', id: `ten_${seqNo % 3}`, version: seqNo },
    changeJson: canonicalJson({ n: seqNo, note: 'ü, "quoted"' }),
    source: 'tenant-registry',
    correlationId: `corr-${seqNo}`,
    ...patch,
  };
}

const drafts = (accountId: string, n: number) => Array.from({ length: n }, () => draft(accountId));
const newAccount = () => uniqueName('acc');

describe(AuditStore.name, () => {
  let owner: DataSource;
  let app: DataSource;
  let store: AuditStore;
  let ownerStore: AuditStore;
  let drop: () => Promise<void>;
  let appUrl: string;
  const verify = (accountId: string, anchor?: { seq: number; hash: string }) =>
    store.verify(all, accountId, { publicKey: signer.publicKey, anchor });

  beforeAll(async () => {
    const scratch = await openScratchDatabase(stackVar('POSTGRES_URL'), 'it_audit', {
      migrations: auditMigrations({ appRole: ROLE.name, appPassword: ROLE.password }),
    });
    owner = scratch.db;
    drop = scratch.drop;
    appUrl = urlForRole(scratch.url, ROLE);
    app = createDataSource({ url: appUrl, poolSize: 8 });
    await app.initialize();
    store = new AuditStore(app);
    ownerStore = new AuditStore(owner);
  });

  afterAll(async () => {
    await app.destroy();
    await drop();
  });

  it('links each account’s entries into one chain that verifies', async () => {
    const [a, b] = [newAccount(), newAccount()];
    const result = await store.append([...drafts(a, 3), ...drafts(b, 2), ...drafts(a, 2)]);
    expect(result.appended.filter((e) => e.accountId === a).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    await store.append(drafts(b, 2));
    expect(await verify(a)).toMatchObject({ ok: true, entries: 5, head: { seq: 5 } });
    expect(await verify(b)).toMatchObject({ ok: true, entries: 4 });
    expect(await store.head(all, b)).toEqual((await verify(b)).head);
  });

  it('stores a redelivered event once and reports it as a duplicate', async () => {
    const a = newAccount();
    const batch = drafts(a, 3);
    await store.append(batch);
    const again = await store.append([
      ...batch.map((d) => ({ ...d, recordedAt: new Date().toISOString() })),
      batch[0],
    ]);
    expect(again).toEqual({
      appended: [],
      duplicates: expect.arrayContaining(batch.map((d) => d.eventId)),
      conflicts: [],
    });
    const { entries } = await store.list(all, { accountId: a }, { limit: 10 });
    expect(entries).toHaveLength(3);
    expect(await verify(a)).toMatchObject({ ok: true, entries: 3 });
  });

  it('refuses another event under a recorded event id', async () => {
    const a = newAccount();
    const first = draft(a);
    await store.append([first]);
    const clash = { ...first, changeJson: canonicalJson({ forged: true }) };
    const result = await store.append([clash, draft(a)]);
    expect(result.conflicts).toEqual([
      { draft: clash, reason: expect.stringMatching(/^eventId: .* other content/) },
    ]);
    expect(result.appended.map((e) => e.seq)).toEqual([2]);
  });

  it('keeps one linear chain when several appenders write the same account at once', async () => {
    const a = newAccount();
    const appenders = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const ds = createDataSource({ url: appUrl, poolSize: 2 });
        await ds.initialize();
        return ds;
      }),
    );
    try {
      await Promise.all(
        appenders.map(async (ds) => {
          const s = new AuditStore(ds);
          for (let i = 0; i < 10; i++) await s.append([...drafts(a, 5), draft(newAccount())]);
        }),
      );
    } finally {
      await Promise.all(appenders.map((ds) => ds.destroy()));
    }
    const rows = await owner.query<{ seq: string }[]>(
      `SELECT seq::text AS seq FROM audit_entries e WHERE account_id = $1 ORDER BY e.seq`,
      [a],
    );
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(await verify(a)).toMatchObject({ ok: true, entries: 200 });
  });

  it('refuses UPDATE, DELETE and TRUNCATE to the owner, and the app role has no such privilege', async () => {
    const a = newAccount();
    await store.append(drafts(a, 2));
    await expect(
      owner.query(`UPDATE audit_entries SET action = 'x' WHERE account_id = $1`, [a]),
    ).rejects.toThrow(/append-only/);
    await expect(owner.query(`DELETE FROM audit_entries WHERE account_id = $1`, [a])).rejects.toThrow(
      /append-only/,
    );
    await expect(owner.query(`TRUNCATE audit_entries`)).rejects.toThrow(/append-only/);
    await expect(owner.query(`DELETE FROM audit_chain_heads WHERE account_id = $1`, [a])).rejects.toThrow(
      /only move forward/,
    );
    await expect(
      app.query(`UPDATE audit_entries SET action = 'x' WHERE account_id = $1`, [a]),
    ).rejects.toThrow(/permission denied/);
    await expect(app.query(`DELETE FROM audit_entries WHERE account_id = $1`, [a])).rejects.toThrow(
      /permission denied/,
    );
    expect(await verify(a)).toMatchObject({ ok: true, entries: 2 });
  });

  it('names the entry a superuser edited behind the triggers’ back', async () => {
    const a = newAccount();
    await store.append(drafts(a, 5));
    await owner.transaction(async (tx) => {
      // A superuser can switch triggers off for a session; only the hashes catch this.
      await tx.query(`SET LOCAL session_replication_role = replica`);
      await tx.query(`UPDATE audit_entries SET change = '{"n":0}' WHERE account_id = $1 AND seq = 3`, [a]);
    });
    expect(await verify(a)).toMatchObject({
      ok: false,
      entries: 2,
      firstBroken: { seq: 3, reason: 'hash_mismatch' },
    });
  });

  it('detects a whole chain rewritten consistently through an exported head', async () => {
    const a = newAccount();
    const { appended } = await store.append(drafts(a, 3));
    const exported = appended[2];
    await owner.transaction(async (tx) => {
      await tx.query(`SET LOCAL session_replication_role = replica`);
      await tx.query(`DELETE FROM audit_entries WHERE account_id = $1`, [a]);
      await tx.query(`DELETE FROM audit_chain_heads WHERE account_id = $1`, [a]);
    });
    const forged = drafts(a, 3);
    await store.append(forged);
    expect((await verify(a)).ok).toBe(true);
    expect(await verify(a, exported)).toMatchObject({
      ok: false,
      firstBroken: { seq: 3, reason: 'anchor_mismatch' },
    });
  });

  it('filters by tenant, actor, action prefix and time, and pages newest first with a cursor', async () => {
    const a = newAccount();
    await store.append(drafts(a, 30));
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<AuditStore['list']>> = await store.list(
        all,
        { accountId: a },
        { limit: 7, ...(cursor ? { before: decodeCursor(cursor) } : {}) },
      );
      seen.push(...page.entries.map((e) => e.seq));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => 30 - i));

    const all30 = (await store.list(all, { accountId: a }, { limit: 100 })).entries;
    const pick = all30[10];
    const filtered = await store.list(
      all,
      {
        accountId: a,
        tenantId: pick.tenantId!,
        actorId: pick.actor.id,
        actionPrefix: pick.action.split('.')[0] + '.',
        fromMs: Date.parse(pick.time),
        toMs: Date.parse(pick.time) + 1,
      },
      { limit: 100 },
    );
    expect(filtered.entries.map((e) => e.eventId)).toEqual([pick.eventId]);
    expect((await store.list(all, { accountId: a, actionPrefix: '%' }, { limit: 10 })).entries).toEqual([]);
  });

  it('shows an account scope its own entries only', async () => {
    const [a, b] = [newAccount(), newAccount()];
    await store.append([...drafts(a, 2), ...drafts(b, 2)]);
    const seen = await store.list({ accountId: a }, {}, { limit: 100 });
    expect(new Set(seen.entries.map((e) => e.accountId))).toEqual(new Set([a]));
    expect((await store.list({ accountId: a }, { accountId: b }, { limit: 10 })).entries).toEqual([]);
  });

  it('exports oldest first through a cursor and gives its connection back when closed early', async () => {
    const a = newAccount();
    await store.append(drafts(a, 4_500));
    const out: number[] = [];
    for await (const entry of await store.openExport(all, { accountId: a })) out.push(entry.seq);
    expect(out).toEqual(Array.from({ length: 4_500 }, (_, i) => i + 1));

    for (let i = 0; i < 12; i++) {
      const partial = await store.openExport(all, { accountId: a });
      for await (const _ of partial) break;
    }
    // 12 early exits on an 8-connection pool: each released its connection.
    expect((await store.list(all, { accountId: a }, { limit: 1 })).entries).toHaveLength(1);
  });

  it('prunes an account’s expired prefix behind a signed checkpoint; the rest still verifies', async () => {
    const a = newAccount();
    const old = Array.from({ length: 12 }, () => draft(a, { time: '2020-01-01T00:00:00.000Z' }));
    const young = draft(a, { time: new Date().toISOString() });
    await store.append([...old, young, draft(a, { time: '2020-01-01T00:00:00.000Z' })]);
    await store.setRetention(
      { accountId: a },
      { accountId: a, retentionDays: 30 },
      { actor: { type: 'management-key', id: 'mk_owner' }, correlationId: 'c-1' },
    );
    await expect(store.pruneExpired(signer)).rejects.toThrow(/permission denied/);
    const pruned = (await ownerStore.pruneExpired(signer)).find((p) => p.accountId === a);
    expect(pruned).toMatchObject({
      throughSeq: 12,
      entries: 12,
      checkpoint: { kind: 'checkpoint', seq: 12 },
    });
    const { entries } = await store.list(all, { accountId: a }, { limit: 100 });
    expect(entries.map((e) => e.action)).toEqual([
      'audit.entries_pruned',
      'audit.retention_changed',
      expect.any(String),
      expect.any(String),
    ]);
    expect(await verify(a)).toMatchObject({ ok: true, entries: 4, head: { seq: 16 } });
    // The remaining old entry sits behind a young one: a second run keeps it.
    expect((await ownerStore.pruneExpired(signer)).find((p) => p.accountId === a)).toBeUndefined();
    await expect(
      owner.query(`DELETE FROM audit_entries WHERE account_id = $1 AND seq = 13`, [a]),
    ).rejects.toThrow(/append-only/);
    const otherKey = new ChainSigner(randomBytes(32).toString('base64url'));
    expect(await store.verify(all, a, { publicKey: otherKey.publicKey })).toMatchObject({
      ok: false,
      firstBroken: { seq: 12, reason: 'checkpoint_invalid' },
    });
  });

  it('records retention changes in the chain and reads them back', async () => {
    const a = newAccount();
    const by = { actor: { type: 'management-key' as const, id: 'mk_admin' }, correlationId: null };
    await store.setRetention({ accountId: a }, { accountId: a, retentionDays: 400 }, by);
    expect(await store.retention({ accountId: a }, a)).toEqual({ accountId: a, retentionDays: 400 });
    await store.setRetention({ accountId: a }, { accountId: a, retentionDays: null }, by);
    expect(await store.retention({ accountId: a }, a)).toEqual({ accountId: a, retentionDays: null });
    const { entries } = await store.list(all, { accountId: a }, { limit: 10 });
    expect(entries.map((e) => JSON.parse(e.changeJson))).toEqual([
      { previous: 400, retentionDays: null },
      { previous: null, retentionDays: 400 },
    ]);
    expect((await verify(a)).ok).toBe(true);
  });

  it('finds the account of a tenant from its entries', async () => {
    const a = newAccount();
    const tenantId = uniqueName('ten');
    await store.append([draft(a, { tenantId })]);
    expect(await store.accountOfTenant(tenantId)).toBe(a);
    expect(await store.accountOfTenant(uniqueName('ten'))).toBeNull();
  });
});
