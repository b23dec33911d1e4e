import { Controller, Headers, HttpCode, Post, Req } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import type { WebhookResult } from '@metering/billing-data-access';
import { StripeService } from './stripe.service';

export const STRIPE_WEBHOOK_PATH = '/v1/webhooks/stripe';

@ApiTags('stripe')
@Controller('v1/webhooks')
export class StripeWebhooksController {
  constructor(private readonly stripe: StripeService) {}

  /** Called by Stripe: the signature over the raw body is the authentication (no management key). */
  @Post('stripe')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Stripe webhook (Stripe-Signature checked on the raw body; invoice.paid, invoice.payment_failed, invoice.voided)',
  })
  receive(@Req() req: Request, @Headers('stripe-signature') signature?: string): Promise<WebhookResult> {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    return this.stripe.stripe.handleEvent(this.stripe.stripe.verifyWebhook(body, signature));
  }
}
