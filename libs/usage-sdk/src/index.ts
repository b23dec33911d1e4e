export {
  CLOUDEVENTS_BATCH_MEDIA_TYPE,
  UsageClient,
  UsageSdkError,
  type EventOutcome,
  type RetryOptions,
  type UsageClientOptions,
  type UsageCloudEvent,
  type UsageEvent,
  type UsageSdkErrorCode,
  type UsageSdkErrorInit,
} from './usage-client';
export * from './webhook-signature';
