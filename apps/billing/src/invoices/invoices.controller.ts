import { Body, Controller, Get, Header, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { invoiceView, invoicesCsv, previewView, type InvoiceView } from '@metering/billing-domain';
import { CAN } from '@metering/contracts';
import { Allow, ManagementKeyGuard, Principal, type ManagementPrincipal } from '@metering/registry-client';
import { BillingService } from '../billing/billing.service';
import { callerOf, ownAccount } from '../billing/caller';
import { InvoicePageQueryDto, UpcomingQueryDto, VoidInvoiceDto } from './invoice.dto';

@ApiTags('invoices')
@ApiBearerAuth()
@UseGuards(ManagementKeyGuard)
@Controller('v1')
export class InvoicesController {
  constructor(private readonly billing: BillingService) {}

  @Get('accounts/:id/invoices')
  @Allow(...CAN.read)
  @ApiOperation({
    summary:
      "The account's invoices — its pooled ones and its tenants' own-plan ones, each with its `mode` — oldest period first (cursor pagination)",
  })
  async list(
    @Principal() principal: ManagementPrincipal,
    @Param('id') accountId: string,
    @Query() query: InvoicePageQueryDto,
  ): Promise<{ invoices: InvoiceView[]; nextCursor: string | null }> {
    const limit = query.limit ?? 100;
    const [start, subscriptionId] = query.cursor?.split(':') ?? [];
    // One more than the page, to tell whether the next page starts within the last period.
    const found = await this.billing.store.listInvoices(ownAccount(principal, accountId), accountId, {
      ...(start
        ? { after: { periodStartMs: Number(start), ...(subscriptionId ? { subscriptionId } : {}) } }
        : {}),
      ...(query.mode ? { mode: query.mode } : {}),
      ...(query.tenantId ? { tenantId: query.tenantId } : {}),
      limit: limit + 1,
    });
    const invoices = found.slice(0, limit);
    const last = invoices[invoices.length - 1];
    const next = found[limit];
    return {
      invoices: invoices.map(invoiceView),
      nextCursor:
        invoices.length === limit && last
          ? next && next.periodStartMs === last.periodStartMs
            ? `${last.periodStartMs}:${last.subscriptionId}`
            : String(last.periodStartMs)
          : null,
    };
  }

  @Get('accounts/:id/invoices.csv')
  @Allow(...CAN.read)
  @Header('content-type', 'text/csv; charset=utf-8')
  @ApiProduces('text/csv')
  @ApiOperation({ summary: "The account's invoices for finance: one row per line and per tenant sub-line" })
  async csv(@Principal() principal: ManagementPrincipal, @Param('id') accountId: string): Promise<string> {
    return invoicesCsv(await this.billing.store.listInvoices(ownAccount(principal, accountId), accountId));
  }

  @Get('accounts/:id/upcoming-invoice')
  @Allow(...CAN.read)
  @ApiOperation({ summary: 'The current period rated on its usage so far (a preview, not stored)' })
  async upcoming(
    @Principal() principal: ManagementPrincipal,
    @Param('id') accountId: string,
    @Query() query: UpcomingQueryDto,
  ) {
    const asOfMs = query.asOf ? Date.parse(query.asOf) : Date.now();
    const { period, draft } = await this.billing.runner.preview(
      ownAccount(principal, accountId),
      accountId,
      asOfMs,
    );
    return previewView(accountId, draft, period, asOfMs);
  }

  @Get('invoices/:id')
  @Allow(...CAN.read)
  async get(@Principal() principal: ManagementPrincipal, @Param('id') id: string): Promise<InvoiceView> {
    return invoiceView(await this.billing.store.getInvoice(callerOf(principal), id));
  }

  @Post('invoices/:id/finalize')
  @HttpCode(200)
  @Allow(...CAN.administer)
  @ApiOperation({ summary: 'Finalize a draft as it stands; it never changes afterwards' })
  async finalize(@Principal() principal: ManagementPrincipal, @Param('id') id: string): Promise<InvoiceView> {
    return invoiceView(await this.billing.store.finalize(callerOf(principal), id));
  }

  @Post('invoices/:id/void')
  @HttpCode(200)
  @Allow(...CAN.administer)
  @ApiOperation({ summary: 'Void a draft or finalized invoice; its period is not billed again' })
  async void(
    @Principal() principal: ManagementPrincipal,
    @Param('id') id: string,
    @Body() body: VoidInvoiceDto,
  ): Promise<InvoiceView> {
    return invoiceView(await this.billing.store.void(callerOf(principal), id, body.reason));
  }
}
