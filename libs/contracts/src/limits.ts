/** Size limits shared by every intake path (REST, gRPC, Kafka) so they reject the same things. */
export const USAGE_EVENT_LIMITS = {
  idMaxLength: 256,
  sourceMaxLength: 1024,
  typeMaxLength: 256,
  subjectMaxLength: 1024,
  tenantIdMaxLength: 128,
} as const;
