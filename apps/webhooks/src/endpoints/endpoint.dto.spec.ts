import { AppError } from '@metering/contracts';
import { createValidationPipe } from '@metering/service-kit';
import { UpdateEndpointDto } from './endpoint.dto';

const pipe = createValidationPipe();

/** What the service's validation pipe makes of a PATCH body: the DTO, or the fields it refuses. */
const patched = (body: Record<string, unknown>) =>
  pipe.transform(body, { type: 'body', metatype: UpdateEndpointDto }).then(
    (dto) => ({ ...(dto as object) }),
    (err: unknown) => (err instanceof AppError ? { refused: err.details } : err),
  );

describe(UpdateEndpointDto.name, () => {
  it('takes a change of any field, and a body that leaves each out', async () => {
    expect(await patched({ eventTypes: ['invoice.*'], description: 'x', enabled: false })).toEqual({
      eventTypes: ['invoice.*'],
      description: 'x',
      enabled: false,
    });
    expect(await patched({})).toEqual({});
  });

  // A null description reached the NOT NULL column: a 500 rather than a 400.
  it.each(['eventTypes', 'description', 'enabled'])('refuses a null %s, naming it', async (field) => {
    expect(await patched({ [field]: null })).toEqual({
      refused: [{ field, reasons: expect.arrayContaining([expect.any(String)]) }],
    });
  });
});
