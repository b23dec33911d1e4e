import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import {
  ChainVerifier,
  EMPTY_HEAD,
  canonicalJson,
  chainAfter,
  encodeCursor,
  likePrefix,
  sameEvent,
  verifyStatement,
  type AuditDraft,
  type AuditFilter,
  type ChainHead,
  type ChainSigner,
  type ChainedEntry,
  type SignedStatement,
  type StoredEntry,
  type VerifyResult,
} from '@metering/audit-domain';
import type { Actor } from '@metering/contracts';
import { SET_ACCOUNT_SQL, type AccountScope } from '@metering/event-store';

export interface AppendResult {
  /** Entries added to their account's chain, in chain order. */
  appended: ChainedEntry[];
  /** Event ids already recorded with the same content (redelivery, replay). */
  duplicates: string[];
  /** Drafts whose event id is recorded with other content: refused, with the reason. */
  conflicts: { draft: AuditDraft; reason: string }[];
}

/** An export in progress: entries in chain order, read from a cursor a page at a time. */
export interface AuditExport extends AsyncIterable<StoredEntry> {
  /** Ends the read early (a client that went away); iterating to the end closes it too. */
  close(): Promise<void>;
}

export interface RetentionSetting {
  accountId: string;
  /** Days entries are kept after their action time; null: kept forever. */
  retentionDays: number | null;
}

export interface PrunedPrefix {
  accountId: string;
  throughSeq: number;
  entries: number;
  checkpoint: SignedStatement;
}

interface EntryRow {
  id: string;
  account_id: string;
  seq: string;
  event_id: string;
  time: string;
  recorded_at: string;
  tenant_id: string | null;
  actor_type: Actor['type'];
  actor_id: string;
  action: string;
  target_type: string;
  target_id: string;
  target_version: string;
  change: string;
  source: string;
  correlation_id: string | null;
  prev_hash: string;
  hash: string;
}

const ISO = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** Every column as the domain hashes it: times as ISO strings, the change as its stored text. */
const ENTRY_COLUMNS = `id::text AS id, account_id, seq::text AS seq, event_id::text AS event_id,
  ${ISO('occurred_at')} AS time, ${ISO('recorded_at')} AS recorded_at, tenant_id, actor_type, actor_id,
  action, target_type, target_id, target_version::text AS target_version, change::text AS change,
  source, correlation_id, prev_hash, hash`;

const toEntry = (r: EntryRow): StoredEntry => ({
  id: r.id,
  accountId: r.account_id,
  seq: Number(r.seq),
  eventId: r.event_id,
  time: r.time,
  recordedAt: r.recorded_at,
  tenantId: r.tenant_id,
  actor: { type: r.actor_type, id: r.actor_id },
  action: r.action,
  target: { type: r.target_type, id: r.target_id, version: Number(r.target_version) },
  changeJson: r.change,
  source: r.source,
  correlationId: r.correlation_id,
  prevHash: r.prev_hash,
  hash: r.hash,
});

/** Postgres errors a retried append resolves: a racing insert of the same event, a deadlock. */
const RETRYABLE = new Set(['23505', '40P01', '40001']);
const APPEND_ATTEMPTS = 5;
/** `retention_days` of an account whose limit was lifted. */
const FOREVER = 2_147_483_647;
const FETCH_ROWS = 2_000;

/** WHERE clause and parameters of a filter; `$n` numbering continues after `offset` parameters. */
function whereOf(filter: AuditFilter, offset = 0): { sql: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const add = (clause: (p: string) => string, value: unknown) => {
    params.push(value);
    clauses.push(clause(`$${offset + params.length}`));
  };
  if (filter.accountId !== undefined) add((p) => `account_id = ${p}`, filter.accountId);
  if (filter.tenantId !== undefined) add((p) => `tenant_id = ${p}`, filter.tenantId);
  if (filter.actorId !== undefined) add((p) => `actor_id = ${p}`, filter.actorId);
  if (filter.actorType !== undefined) add((p) => `actor_type = ${p}`, filter.actorType);
  if (filter.actionPrefix !== undefined) add((p) => `action LIKE ${p}`, likePrefix(filter.actionPrefix));
  if (filter.fromMs !== undefined) add((p) => `occurred_at >= ${p}`, new Date(filter.fromMs).toISOString());
  if (filter.toMs !== undefined) add((p) => `occurred_at < ${p}`, new Date(filter.toMs).toISOString());
  return { sql: clauses.length ? clauses.join(' AND ') : 'true', params };
}

/**
 * The audit log in Postgres. Appends take each account's chain-head row FOR UPDATE (in account
 * order, so concurrent appenders never deadlock), skip event ids already recorded, link the new
 * entries to the head, insert them in one statement and move the head, all in one transaction:
 * two appenders of one account queue on the head row and can never fork its chain.
 */
export class AuditStore {
  constructor(private readonly db: DataSource) {}

  /** Runs `work` in one transaction that sees only `scope`'s rows (row-level security). */
  inScope<T>(scope: AccountScope, work: (tx: EntityManager) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) => {
      await tx.query(SET_ACCOUNT_SQL, scope === 'all-accounts' ? ['', 'on'] : [scope.accountId, 'off']);
      return work(tx);
    });
  }

  /** Records drafts exactly once each: redelivered events are reported, not stored again. */
  async append(drafts: readonly AuditDraft[]): Promise<AppendResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.inScope('all-accounts', (tx) => this.appendIn(tx, drafts));
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (attempt >= APPEND_ATTEMPTS || !code || !RETRYABLE.has(code)) throw err;
      }
    }
  }

  /** The append within the caller's transaction (whose scope must cover the drafts' accounts). */
  async appendIn(tx: EntityManager, drafts: readonly AuditDraft[]): Promise<AppendResult> {
    const result: AppendResult = { appended: [], duplicates: [], conflicts: [] };
    if (drafts.length === 0) return result;
    // One draft per event id; a second one is a redelivery or a clash.
    const unique = new Map<string, AuditDraft>();
    const later: AuditDraft[] = [];
    for (const draft of drafts) {
      if (unique.has(draft.eventId)) later.push(draft);
      else unique.set(draft.eventId, draft);
    }
    const accounts = [...new Set([...unique.values()].map((d) => d.accountId))].sort();
    await tx.query(
      `INSERT INTO audit_chain_heads (account_id) SELECT a FROM unnest($1::text[]) a ORDER BY a
       ON CONFLICT (account_id) DO NOTHING`,
      [accounts],
    );
    const heads = await tx.query<{ account_id: string; seq: string; hash: string }[]>(
      `SELECT account_id, seq::text AS seq, hash FROM audit_chain_heads
       WHERE account_id = ANY($1::text[]) ORDER BY account_id FOR UPDATE`,
      [accounts],
    );
    // Read under the head locks: an appender racing on the same events has committed or waits.
    const existing = await tx.query<EntryRow[]>(
      `SELECT ${ENTRY_COLUMNS} FROM audit_entries WHERE event_id = ANY($1::uuid[])`,
      [[...unique.keys()]],
    );
    const recorded = new Map<string, AuditDraft>(existing.map((r) => [r.event_id, toEntry(r)]));
    const judge = (draft: AuditDraft, earlier: AuditDraft) => {
      if (sameEvent(draft, earlier)) result.duplicates.push(draft.eventId);
      else
        result.conflicts.push({
          draft,
          reason: `eventId: ${draft.eventId} is already recorded with other content`,
        });
    };
    for (const draft of later) judge(draft, recorded.get(draft.eventId) ?? unique.get(draft.eventId)!);

    const fresh = new Map<string, AuditDraft[]>();
    for (const draft of unique.values()) {
      const earlier = recorded.get(draft.eventId);
      if (earlier) judge(draft, earlier);
      else fresh.set(draft.accountId, [...(fresh.get(draft.accountId) ?? []), draft]);
    }
    const newHeads: { accountId: string; seq: number; hash: string }[] = [];
    for (const head of heads) {
      const entries = chainAfter(
        { seq: Number(head.seq), hash: head.hash },
        fresh.get(head.account_id) ?? [],
      );
      const last = entries.at(-1);
      if (!last) continue;
      result.appended.push(...entries);
      newHeads.push({ accountId: head.account_id, seq: last.seq, hash: last.hash });
    }
    if (result.appended.length === 0) return result;
    await this.insertEntries(tx, result.appended);
    await tx.query(
      `UPDATE audit_chain_heads h SET seq = v.seq, hash = v.hash, updated_at = now()
       FROM unnest($1::text[], $2::bigint[], $3::text[]) AS v(account_id, seq, hash)
       WHERE h.account_id = v.account_id`,
      [newHeads.map((h) => h.accountId), newHeads.map((h) => h.seq), newHeads.map((h) => h.hash)],
    );
    return result;
  }

  private async insertEntries(tx: EntityManager, entries: readonly ChainedEntry[]): Promise<void> {
    const column = <T>(of: (e: ChainedEntry) => T) => entries.map(of);
    await tx.query(
      `INSERT INTO audit_entries (account_id, seq, event_id, occurred_at, recorded_at, tenant_id, actor_type,
         actor_id, action, target_type, target_id, target_version, change, source, correlation_id, prev_hash, hash)
       SELECT * FROM unnest($1::text[], $2::bigint[], $3::uuid[], $4::timestamptz[], $5::timestamptz[], $6::text[],
         $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::json[], $14::text[],
         $15::text[], $16::text[], $17::text[])`,
      [
        column((e) => e.accountId),
        column((e) => e.seq),
        column((e) => e.eventId),
        column((e) => e.time),
        column((e) => e.recordedAt),
        column((e) => e.tenantId),
        column((e) => e.actor.type),
        column((e) => e.actor.id),
        column((e) => e.action),
        column((e) => e.target.type),
        column((e) => e.target.id),
        column((e) => e.target.version),
        column((e) => e.changeJson),
        column((e) => e.source),
        column((e) => e.correlationId),
        column((e) => e.prevHash),
        column((e) => e.hash),
      ],
    );
  }

  /** One page of entries, newest first, strictly older than the entry `before` (a decoded cursor). */
  async list(
    scope: AccountScope,
    filter: AuditFilter,
    page: { before?: string; limit: number },
  ): Promise<{ entries: StoredEntry[]; nextCursor: string | null }> {
    const where = whereOf(filter);
    const params = [...where.params];
    let sql = where.sql;
    if (page.before !== undefined) {
      params.push(page.before);
      sql += ` AND id < $${params.length}::bigint`;
    }
    params.push(page.limit + 1);
    const rows = await this.inScope(scope, (tx) =>
      tx.query<EntryRow[]>(
        `SELECT ${ENTRY_COLUMNS} FROM audit_entries e WHERE ${sql} ORDER BY e.id DESC LIMIT $${params.length}`,
        params,
      ),
    );
    const entries = rows.slice(0, page.limit).map(toEntry);
    const more = rows.length > page.limit;
    return { entries, nextCursor: more ? encodeCursor(entries[entries.length - 1].id) : null };
  }

  /**
   * Entries matching `filter` oldest first, read through a server-side cursor in one
   * read-only snapshot, a page at a time: memory stays bounded whatever the export's size. The
   * snapshot is taken before this resolves, so a failure to start is an error, not a cut stream.
   */
  async openExport(scope: AccountScope, filter: AuditFilter): Promise<AuditExport> {
    const where = whereOf(filter);
    const cursor = await this.openCursor(
      scope,
      `SELECT ${ENTRY_COLUMNS} FROM audit_entries e WHERE ${where.sql} ORDER BY e.id`,
      where.params,
    );
    return {
      close: () => cursor.close(),
      async *[Symbol.asyncIterator]() {
        try {
          for (;;) {
            const rows = await cursor.next();
            if (rows.length === 0) return;
            for (const row of rows) yield toEntry(row);
          }
        } finally {
          await cursor.close();
        }
      },
    };
  }

  private async openCursor(
    scope: AccountScope,
    sql: string,
    params: unknown[],
    before?: (runner: QueryRunner) => Promise<void>,
  ): Promise<{ next: () => Promise<EntryRow[]>; close: () => Promise<void> }> {
    const runner = this.db.createQueryRunner();
    let open = true;
    const close = async () => {
      if (!open) return;
      open = false;
      try {
        if (runner.isTransactionActive) await runner.rollbackTransaction();
      } finally {
        await runner.release();
      }
    };
    try {
      await runner.connect();
      await runner.startTransaction('REPEATABLE READ');
      await runner.query('SET TRANSACTION READ ONLY');
      await runner.query(SET_ACCOUNT_SQL, scope === 'all-accounts' ? ['', 'on'] : [scope.accountId, 'off']);
      await before?.(runner);
      await runner.query(`DECLARE audit_rows NO SCROLL CURSOR FOR ${sql}`, params);
    } catch (err) {
      await close();
      throw err;
    }
    return { next: () => runner.query(`FETCH ${FETCH_ROWS} FROM audit_rows`) as Promise<EntryRow[]>, close };
  }

  /** Where the account's chain ends as recorded (the empty head when it has no entries). */
  async head(scope: AccountScope, accountId: string): Promise<ChainHead> {
    const [row] = await this.inScope(scope, (tx) =>
      tx.query<{ seq: string; hash: string }[]>(
        `SELECT seq::text AS seq, hash FROM audit_chain_heads WHERE account_id = $1`,
        [accountId],
      ),
    );
    return row ? { seq: Number(row.seq), hash: row.hash } : EMPTY_HEAD;
  }

  /**
   * Walks the account's chain in one snapshot, from its latest retention checkpoint (whose
   * signature must hold under `publicKey`) to the recorded head, and names the first broken link.
   * `anchor`: a head exported earlier that must still be part of the chain.
   */
  async verify(
    scope: AccountScope,
    accountId: string,
    options: { publicKey: string; anchor?: ChainHead },
  ): Promise<VerifyResult> {
    let recordedHead: ChainHead = EMPTY_HEAD;
    let start: ChainHead = EMPTY_HEAD;
    let checkpoint: SignedStatement | undefined;
    const cursor = await this.openCursor(
      scope,
      `SELECT ${ENTRY_COLUMNS} FROM audit_entries e WHERE account_id = $1
         AND seq > (SELECT coalesce(max(seq), 0) FROM audit_checkpoints WHERE account_id = $1) ORDER BY e.seq`,
      [accountId],
      async (runner) => {
        const [head] = (await runner.query(
          `SELECT seq::text AS seq, hash FROM audit_chain_heads WHERE account_id = $1`,
          [accountId],
        )) as { seq: string; hash: string }[];
        if (head) recordedHead = { seq: Number(head.seq), hash: head.hash };
        const [cp] = (await runner.query(
          `SELECT signed FROM audit_checkpoints WHERE account_id = $1 ORDER BY seq DESC LIMIT 1`,
          [accountId],
        )) as { signed: SignedStatement }[];
        if (cp) {
          checkpoint = cp.signed;
          start = { seq: cp.signed.seq, hash: cp.signed.hash };
        }
      },
    );
    try {
      if (
        checkpoint &&
        !(checkpoint.accountId === accountId && verifyStatement(checkpoint, options.publicKey))
      ) {
        return {
          ok: false,
          accountId,
          entries: 0,
          head: start,
          firstBroken: {
            seq: start.seq,
            reason: 'checkpoint_invalid',
            message: 'the retention checkpoint is not signed by this service’s key',
          },
        };
      }
      const verifier = new ChainVerifier(accountId, start, options.anchor);
      for (;;) {
        const rows = await cursor.next();
        if (rows.length === 0) break;
        if (!rows.every((row) => verifier.push(toEntry(row)))) break;
      }
      return verifier.finish(recordedHead);
    } finally {
      await cursor.close();
    }
  }

  /** The account a tenant belongs to, as its audit entries say (null when it has none). */
  async accountOfTenant(tenantId: string): Promise<string | null> {
    const [row] = await this.inScope('all-accounts', (tx) =>
      tx.query<{ account_id: string }[]>(
        `SELECT account_id FROM audit_entries WHERE tenant_id = $1 LIMIT 1`,
        [tenantId],
      ),
    );
    return row?.account_id ?? null;
  }

  async retention(scope: AccountScope, accountId: string): Promise<RetentionSetting> {
    const [row] = await this.inScope(scope, (tx) =>
      tx.query<{ retention_days: number }[]>(
        `SELECT retention_days FROM audit_retention WHERE account_id = $1`,
        [accountId],
      ),
    );
    return { accountId, retentionDays: row && row.retention_days !== FOREVER ? row.retention_days : null };
  }

  /** Sets how long an account's entries are kept; the change is itself recorded in its chain. */
  async setRetention(
    scope: AccountScope,
    setting: RetentionSetting,
    by: { actor: Actor; correlationId: string | null },
  ): Promise<RetentionSetting> {
    return this.inScope(scope, async (tx) => {
      const [before] = await tx.query<{ retention_days: number }[]>(
        `SELECT retention_days FROM audit_retention WHERE account_id = $1 FOR UPDATE`,
        [setting.accountId],
      );
      if (setting.retentionDays === null) {
        // Kept forever is the absence of a limit; the row stays (nothing is ever deleted here).
        await tx.query(
          `UPDATE audit_retention SET retention_days = $2, updated_at = now() WHERE account_id = $1`,
          [setting.accountId, FOREVER],
        );
      } else {
        await tx.query(
          `INSERT INTO audit_retention (account_id, retention_days) VALUES ($1, $2)
           ON CONFLICT (account_id) DO UPDATE SET retention_days = EXCLUDED.retention_days, updated_at = now()`,
          [setting.accountId, setting.retentionDays],
        );
      }
      const previous = before && before.retention_days !== FOREVER ? before.retention_days : null;
      await this.appendIn(tx, [
        serviceDraft(setting.accountId, 'audit.retention_changed', by, {
          retentionDays: setting.retentionDays,
          previous,
        }),
      ]);
      return setting;
    });
  }

  /**
   * Retention: for every account with a limit, removes its oldest entries whose action time is
   * before the limit, up to the first entry that is not (the chain is pruned from its start only).
   * A checkpoint signed with `signer` records the last removed entry's position and hash first, so
   * the remaining chain still verifies; the pruning is then recorded in the chain itself. Needs the
   * owner connection: the app role may not delete.
   */
  async pruneExpired(signer: ChainSigner, now: Date = new Date()): Promise<PrunedPrefix[]> {
    const accounts = await this.inScope('all-accounts', (tx) =>
      tx.query<{ account_id: string; retention_days: number }[]>(
        `SELECT account_id, retention_days FROM audit_retention WHERE retention_days < $1 ORDER BY account_id`,
        [FOREVER],
      ),
    );
    const pruned: PrunedPrefix[] = [];
    for (const { account_id: accountId, retention_days: days } of accounts) {
      const cutoff = new Date(now.getTime() - days * 86_400_000);
      const done = await this.inScope('all-accounts', (tx) =>
        this.prunePrefix(tx, accountId, cutoff, signer, now),
      );
      if (done) pruned.push(done);
    }
    return pruned;
  }

  private async prunePrefix(
    tx: EntityManager,
    accountId: string,
    cutoff: Date,
    signer: ChainSigner,
    now: Date,
  ): Promise<PrunedPrefix | undefined> {
    // Appends of this account wait until the pruning is recorded.
    await tx.query(`SELECT 1 FROM audit_chain_heads WHERE account_id = $1 FOR UPDATE`, [accountId]);
    const [{ from }] = await tx.query<{ from: string }[]>(
      `SELECT coalesce(max(seq), 0)::text AS from FROM audit_checkpoints WHERE account_id = $1`,
      [accountId],
    );
    const [young] = await tx.query<{ seq: string }[]>(
      `SELECT e.seq::text AS seq FROM audit_entries e
       WHERE account_id = $1 AND e.seq > $2::bigint AND occurred_at >= $3 ORDER BY e.seq LIMIT 1`,
      [accountId, from, cutoff.toISOString()],
    );
    const [last] = await tx.query<{ seq: string; hash: string }[]>(
      `SELECT e.seq::text AS seq, hash FROM audit_entries e WHERE account_id = $1 AND e.seq > $2::bigint
         AND ($3::bigint IS NULL OR e.seq < $3::bigint)
       ORDER BY e.seq DESC LIMIT 1`,
      [accountId, from, young?.seq ?? null],
    );
    if (!last) return undefined;
    const checkpoint = signer.sign({
      kind: 'checkpoint',
      accountId,
      seq: Number(last.seq),
      hash: last.hash,
      at: now.toISOString(),
    });
    await tx.query(
      `INSERT INTO audit_checkpoints (account_id, seq, hash, pruned_before, signed) VALUES ($1, $2, $3, $4, $5)`,
      [accountId, last.seq, last.hash, cutoff.toISOString(), checkpoint],
    );
    const [{ deleted }] = await tx.query<{ deleted: number }[]>(
      `WITH d AS (DELETE FROM audit_entries WHERE account_id = $1 AND seq > $2::bigint AND seq <= $3::bigint RETURNING 1)
       SELECT count(*)::int AS deleted FROM d`,
      [accountId, from, last.seq],
    );
    await this.appendIn(tx, [
      serviceDraft(
        accountId,
        'audit.entries_pruned',
        { actor: { type: 'service', id: 'audit' }, correlationId: null },
        { throughSeq: Number(last.seq), hash: last.hash, entries: deleted, before: cutoff.toISOString() },
      ),
    ]);
    return { accountId, throughSeq: Number(last.seq), entries: deleted, checkpoint };
  }
}

/** An action of the audit service itself, recorded in the account's chain like any other. */
function serviceDraft(
  accountId: string,
  action: string,
  by: { actor: Actor; correlationId: string | null },
  change: object,
): AuditDraft {
  const now = new Date().toISOString();
  return {
    eventId: randomUUID(),
    time: now,
    recordedAt: now,
    accountId,
    tenantId: null,
    actor: by.actor,
    action,
    target: { type: 'audit_log', id: accountId, version: 0 },
    changeJson: canonicalJson(change),
    source: 'audit',
    correlationId: by.correlationId,
  };
}
