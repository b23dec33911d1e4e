import { ValidationPipe, type ValidationError } from '@nestjs/common';
import { AppError, flattenValidationErrors } from '@metering/contracts';

/** Validation of every DTO (body, query, params): unknown fields refused, each bad field named. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    transformOptions: { enableImplicitConversion: true },
    exceptionFactory: (errors: ValidationError[]) => {
      const details = flattenValidationErrors(errors);
      return new AppError(
        'invalid',
        'validation_failed',
        `invalid ${details.map((d) => d.field).join(', ')}`,
        details,
      );
    },
  });
}
