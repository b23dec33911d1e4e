import { pipeline } from 'node:stream/promises';
import { Body, Controller, Get, Inject, Param, Put, Query, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { SignedStatement, VerifyResult } from '@metering/audit-domain';
import type { RetentionSetting } from '@metering/audit-data-access';
import { AppError, CAN, ID_PATTERN } from '@metering/contracts';
import { LOGGER, currentContext, type Logger } from '@metering/observability';
import { Allow, ManagementKeyGuard, Principal, type ManagementPrincipal } from '@metering/registry-client';
import {
  AccountQueryDto,
  AuditExportQueryDto,
  AuditFilterDto,
  AuditListQueryDto,
  AuditPageDto,
  RetentionDto,
  TenantExportQueryDto,
  VerifyQueryDto,
  type ExportFormat,
} from './audit-query.dto';
import { AuditLogService, type AuditPage } from './audit-log.service';
import type { AuditFilter } from '@metering/audit-domain';

const MEDIA_TYPES: Record<ExportFormat, string> = {
  ndjson: 'application/x-ndjson; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
};

@ApiTags('audit')
@ApiBearerAuth()
@UseGuards(ManagementKeyGuard)
@Allow(...CAN.read)
@Controller('v1/audit')
export class AuditController {
  constructor(
    private readonly log: AuditLogService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Audit entries, newest first, filtered; `nextCursor` fetches the next page' })
  async list(
    @Query() query: AuditListQueryDto,
    @Principal() caller: ManagementPrincipal,
  ): Promise<AuditPage> {
    return this.log.list(caller, await this.filterOf(caller, query), query);
  }

  @Get('export')
  @ApiProduces(MEDIA_TYPES.ndjson, MEDIA_TYPES.csv)
  @ApiOperation({ summary: 'Every selected entry, oldest first, as NDJSON (default) or CSV, streamed' })
  async export(
    @Query() query: AuditExportQueryDto,
    @Principal() caller: ManagementPrincipal,
    @Res() res: Response,
  ): Promise<void> {
    await this.stream(caller, await this.filterOf(caller, query), query.format ?? 'ndjson', res);
  }

  @Get('verify')
  @ApiOperation({
    summary:
      "Walks an account's chain and names the first broken link; when it holds, returns its head signed (keep it to detect a later rewrite)",
  })
  verify(
    @Query() query: VerifyQueryDto,
    @Principal() caller: ManagementPrincipal,
  ): Promise<VerifyResult & { signedHead?: SignedStatement }> {
    if ((query.anchorSeq === undefined) !== (query.anchorHash === undefined)) {
      const field = query.anchorSeq === undefined ? 'anchorSeq' : 'anchorHash';
      throw new AppError('invalid', 'validation_failed', 'anchorSeq and anchorHash go together', [
        { field, reasons: ['anchorSeq and anchorHash go together'] },
      ]);
    }
    const anchor =
      query.anchorSeq === undefined ? undefined : { seq: query.anchorSeq, hash: query.anchorHash! };
    return this.log.verify(caller, query.accountId, anchor);
  }

  @Get('head')
  @ApiOperation({ summary: "An account's chain head as recorded, signed with the service's Ed25519 key" })
  head(@Query() query: AccountQueryDto, @Principal() caller: ManagementPrincipal): Promise<SignedStatement> {
    return this.log.head(caller, query.accountId);
  }

  @Get('public-key')
  @ApiOperation({ summary: 'The Ed25519 public key that signs heads and retention checkpoints' })
  publicKey(): ReturnType<AuditLogService['publicKey']> {
    return this.log.publicKey();
  }

  @Get('retention')
  @ApiOperation({ summary: "How long an account's entries are kept (null: forever)" })
  retention(
    @Query() query: AccountQueryDto,
    @Principal() caller: ManagementPrincipal,
  ): Promise<RetentionSetting> {
    return this.log.retention(caller, query.accountId);
  }

  @Put('retention')
  @Allow(...CAN.administer)
  @ApiOperation({
    summary:
      "Sets how long an account's entries are kept; older ones are pruned behind a signed checkpoint (recorded in the chain)",
  })
  setRetention(
    @Body() body: RetentionDto,
    @Principal() caller: ManagementPrincipal,
  ): Promise<RetentionSetting> {
    return this.log.setRetention(caller, body.accountId, body.retentionDays, {
      actor: { type: 'management-key', id: caller.keyId },
      correlationId: currentContext().correlationId ?? null,
    });
  }

  @Get('tenants/:tenantId')
  @ApiOperation({ summary: "A tenant's operation log: its entries, newest first, paged like GET /v1/audit" })
  async tenantLog(
    @Param('tenantId') tenantId: string,
    @Query() query: AuditPageDto,
    @Principal() caller: ManagementPrincipal,
  ): Promise<AuditPage> {
    return this.log.list(caller, await this.tenantFilter(caller, tenantId, query), query);
  }

  @Get('tenants/:tenantId/export')
  @ApiProduces(MEDIA_TYPES.ndjson, MEDIA_TYPES.csv)
  @ApiOperation({ summary: "A tenant's operation log, streamed like GET /v1/audit/export" })
  async tenantExport(
    @Param('tenantId') tenantId: string,
    @Query() query: TenantExportQueryDto,
    @Principal() caller: ManagementPrincipal,
    @Res() res: Response,
  ): Promise<void> {
    const filter = await this.tenantFilter(caller, tenantId, query);
    await this.stream(caller, filter, query.format ?? 'ndjson', res);
  }

  /**
   * The filter of the account-wide reads. Another account's tenant is answered as not found, as by
   * the tenant's own log, never as an empty page.
   */
  private async filterOf(
    caller: ManagementPrincipal,
    query: AuditListQueryDto | AuditExportQueryDto,
  ): Promise<AuditFilter> {
    if (caller.accountId && query.tenantId !== undefined)
      await this.tenantFilter(caller, query.tenantId, query);
    return this.log.filterOf(caller, query);
  }

  private tenantFilter(
    caller: ManagementPrincipal,
    tenantId: string,
    query: AuditFilterDto,
  ): Promise<AuditFilter> {
    if (!ID_PATTERN.test(tenantId) || tenantId.length > 128)
      throw new AppError('invalid', 'validation_failed', 'invalid tenantId', [
        { field: 'tenantId', reasons: ['tenantId must be an id'] },
      ]);
    return this.log.tenantFilterOf(caller, tenantId, query);
  }

  /** Errors before the first byte are answered as usual; a failure mid-stream cuts the response. */
  private async stream(
    caller: ManagementPrincipal,
    filter: AuditFilter,
    format: ExportFormat,
    res: Response,
  ) {
    const body = await this.log.export(caller, filter, format);
    res.status(200);
    res.setHeader('content-type', MEDIA_TYPES[format]);
    res.setHeader('content-disposition', `attachment; filename="audit.${format}"`);
    try {
      await pipeline(body, res);
    } catch (err) {
      if (!res.writableEnded) this.logger.warn({ err }, 'audit export ended early');
    }
  }
}
