export * from './batch-consumer';
export * from './kafka-client';
export * from './typed-producer';
export * from './kafka.module';
export * from './group-commit';
