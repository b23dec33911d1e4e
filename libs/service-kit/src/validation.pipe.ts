import {
  type ArgumentMetadata,
  type PipeTransform,
  ValidationPipe,
  type ValidationError,
} from '@nestjs/common';
import {
  flattenValidationErrors,
  invalidField,
  MAX_INT32,
  unstorableInput,
  validationFailed,
} from '@metering/contracts';

/**
 * Refuses, before anything else looks at them, request values no service can store as sent (NUL,
 * unpaired surrogates, absurd nesting), so they are answered 400 naming the field instead of
 * failing deep in a database driver or a recursive walker. Checks bodies of every type (raw
 * `unknown` bodies too), query strings and path parameters.
 *
 * Query strings and path parameters arrive as text and are converted to their declared types
 * (`?limit=10` → 10). JSON bodies carry their own types and are not converted: `"name": -1` is
 * refused rather than read as `"-1"`, and an object where text is declared is refused rather than
 * handed to `String()` (which throws on `{"toString": 0}`).
 */
class EdgeValidationPipe implements PipeTransform {
  private readonly bodies = dtoPipe(false);
  private readonly text = dtoPipe(true);

  transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type !== 'custom') {
      const problems = unstorableInput(value, metadata.data ?? '');
      if (problems.length) return Promise.reject(validationFailed(problems));
    }
    return (metadata.type === 'body' ? this.bodies : this.text).transform(
      value,
      metadata,
    ) as Promise<unknown>;
  }
}

const dtoPipe = (enableImplicitConversion: boolean): ValidationPipe =>
  new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    transformOptions: { enableImplicitConversion },
    exceptionFactory: (errors: ValidationError[]) => validationFailed(flattenValidationErrors(errors)),
  });

/** Validation of every DTO (body, query, params): unknown fields refused, each bad field named. */
export function createValidationPipe(): PipeTransform<unknown, Promise<unknown>> {
  return new EdgeValidationPipe();
}

/**
 * A path or query parameter that must be a whole number from 1 to the largest stored integer
 * (`/versions/:version`): parsed, or refused with a 400 naming the parameter.
 */
export class PositiveIntParamPipe implements PipeTransform<string, number> {
  transform(value: string, metadata: ArgumentMetadata): number {
    const parsed = /^[0-9]{1,10}$/.test(value) ? Number(value) : NaN;
    if (!(parsed >= 1 && parsed <= MAX_INT32)) {
      throw invalidField(metadata.data ?? 'parameter', [`must be a whole number from 1 to ${MAX_INT32}`]);
    }
    return parsed;
  }
}
