import 'reflect-metadata';
import { IsIn, IsInt, IsISO8601, IsNotEmpty, IsOptional, IsString, MaxLength, Min } from 'class-validator';

/** Event types on `webhooks.events.v1`; the aggregate is `webhook_endpoint`, its id the endpoint id. */
export const WEBHOOK_ENDPOINT_EVENTS = {
  created: 'webhook_endpoint.created',
  updated: 'webhook_endpoint.updated',
  enabled: 'webhook_endpoint.enabled',
  disabled: 'webhook_endpoint.disabled',
  deleted: 'webhook_endpoint.deleted',
} as const;

export const WEBHOOK_DISABLE_REASONS = ['failing', 'manual'] as const;
export type WebhookDisableReason = (typeof WEBHOOK_DISABLE_REASONS)[number];

/**
 * `data` of `webhook_endpoint.disabled`: the endpoint stops receiving deliveries, either because
 * it kept failing (`failing`: every attempt since `failingSince` failed) or because a member
 * disabled it (`manual`).
 */
export class WebhookEndpointDisabledData {
  @IsString()
  @IsNotEmpty()
  endpointId!: string;

  @IsString()
  @MaxLength(2048)
  url!: string;

  @IsIn(WEBHOOK_DISABLE_REASONS)
  reason!: WebhookDisableReason;

  /** Failed attempts in a row when it was disabled. */
  @IsInt()
  @Min(0)
  consecutiveFailures!: number;

  @IsOptional()
  @IsISO8601({ strict: true })
  failingSince?: string;

  /** What the last failed attempt got (status code or network error). */
  @IsOptional()
  @IsString()
  lastError?: string;
}
