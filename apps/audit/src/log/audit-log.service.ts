import { Readable } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import {
  CSV_HEADER,
  ChainSigner,
  DEFAULT_PAGE_SIZE,
  checkFilter,
  checkTenantReadable,
  decodeCursor,
  oneReadableAccount,
  readableAccount,
  toCsvLine,
  toNdjsonLine,
  toView,
  type AuditEntryView,
  type AuditFilter,
  type AuditReader,
  type SignedStatement,
  type VerifyResult,
} from '@metering/audit-domain';
import { AuditStore, type RetentionSetting } from '@metering/audit-data-access';
import { AppError, type Actor } from '@metering/contracts';
import { APP_STORE } from '../audit.tokens';
import type { AuditFilterDto, ExportFormat } from './audit-query.dto';

/** Bytes gathered before a chunk is written to the response: few large writes, bounded memory. */
const CHUNK_BYTES = 64 * 1024;

export interface AuditPage {
  entries: AuditEntryView[];
  nextCursor: string | null;
}

/** The audit log as its readers see it: scoped to what the caller may read, filtered, paged, streamed. */
@Injectable()
export class AuditLogService {
  constructor(
    @Inject(APP_STORE) private readonly store: AuditStore,
    private readonly signer: ChainSigner,
  ) {}

  /** Filters of a query, for the account and tenant the caller may read. */
  filterOf(
    reader: AuditReader,
    query: AuditFilterDto & { accountId?: string; tenantId?: string },
  ): AuditFilter {
    return checkFilter({
      accountId: readableAccount(reader, query.accountId),
      tenantId: query.tenantId,
      actorId: query.actor,
      actorType: query.actorType,
      actionPrefix: query.action,
      fromMs: query.from === undefined ? undefined : Date.parse(query.from),
      toMs: query.to === undefined ? undefined : Date.parse(query.to),
    });
  }

  /** The filter of a tenant's operation log: the tenant's account must be readable by the caller. */
  async tenantFilterOf(reader: AuditReader, tenantId: string, query: AuditFilterDto): Promise<AuditFilter> {
    const account = checkTenantReadable(reader, tenantId, await this.store.accountOfTenant(tenantId));
    return { ...this.filterOf({ accountId: null }, query), accountId: account, tenantId };
  }

  async list(
    reader: AuditReader,
    filter: AuditFilter,
    page: { cursor?: string; limit?: number },
  ): Promise<AuditPage> {
    const result = await this.store.list(scopeOf(reader), filter, {
      limit: page.limit ?? DEFAULT_PAGE_SIZE,
      ...(page.cursor === undefined ? {} : { before: decodeCursor(page.cursor) }),
    });
    return { entries: result.entries.map(toView), nextCursor: result.nextCursor };
  }

  /** The selected entries as CSV or NDJSON, oldest first, streamed from a database cursor. */
  async export(reader: AuditReader, filter: AuditFilter, format: ExportFormat): Promise<Readable> {
    const entries = await this.store.openExport(scopeOf(reader), filter);
    const line = format === 'csv' ? toCsvLine : toNdjsonLine;
    async function* chunks() {
      let chunk = format === 'csv' ? CSV_HEADER : '';
      for await (const entry of entries) {
        chunk += line(entry);
        if (chunk.length >= CHUNK_BYTES) {
          yield chunk;
          chunk = '';
        }
      }
      if (chunk) yield chunk;
    }
    const stream = Readable.from(chunks(), { objectMode: false });
    // A client that goes away destroys the stream; the cursor's connection goes back to the pool.
    stream.once('close', () => void entries.close());
    return stream;
  }

  async verify(
    reader: AuditReader,
    requested: string | undefined,
    anchor?: { seq: number; hash: string },
  ): Promise<VerifyResult & { signedHead?: SignedStatement }> {
    const accountId = oneReadableAccount(reader, requested);
    const result = await this.store.verify(scopeOf(reader), accountId, {
      publicKey: this.signer.publicKey,
      anchor,
    });
    // A verified head, signed: kept outside the database, it exposes a later rewrite of the whole table.
    return result.ok && result.head.seq > 0
      ? { ...result, signedHead: this.sign(accountId, result.head) }
      : result;
  }

  /** The chain head as recorded, signed (cheap; verify first for a head that was also checked). */
  async head(reader: AuditReader, requested: string | undefined): Promise<SignedStatement> {
    const accountId = oneReadableAccount(reader, requested);
    return this.sign(accountId, await this.store.head(scopeOf(reader), accountId));
  }

  publicKey(): { algorithm: 'Ed25519'; keyId: string; publicKey: string } {
    return { algorithm: 'Ed25519', keyId: this.signer.keyId, publicKey: this.signer.publicKey };
  }

  retention(reader: AuditReader, requested: string | undefined): Promise<RetentionSetting> {
    const accountId = oneReadableAccount(reader, requested);
    return this.store.retention(scopeOf(reader), accountId);
  }

  setRetention(
    reader: AuditReader,
    requested: string | undefined,
    retentionDays: number | null,
    by: { actor: Actor; correlationId: string | null },
  ): Promise<RetentionSetting> {
    const accountId = oneReadableAccount(reader, requested);
    return this.store.setRetention(scopeOf(reader), { accountId, retentionDays }, by);
  }

  private sign(accountId: string, head: { seq: number; hash: string }): SignedStatement {
    if (head.seq === 0)
      throw new AppError('not_found', 'audit_log_empty', `account ${accountId} has no audit entries`);
    return this.signer.sign({
      kind: 'head',
      accountId,
      seq: head.seq,
      hash: head.hash,
      at: new Date().toISOString(),
    });
  }
}

/** Row-level security backs the filter: an account role's transaction sees its account only. */
const scopeOf = (reader: AuditReader) =>
  reader.accountId === null ? ('all-accounts' as const) : { accountId: reader.accountId };
