import type { AddressInfo } from 'node:net';
import { Body, Controller, type INestApplication, Module, Param, Post } from '@nestjs/common';
import { IsString, MaxLength } from 'class-validator';
import { ServiceConfig } from '@metering/config';
import { createLogger } from '@metering/observability';
import { AppError } from '@metering/contracts';
import { createServiceApp } from './bootstrap';

class NoteDto {
  @IsString()
  @MaxLength(100)
  text!: string;
}

@Controller('notes')
class NotesController {
  @Post(':id')
  write(@Param('id') id: string, @Body() body: NoteDto) {
    return { id, text: body.text };
  }
}

@Module({ controllers: [NotesController] })
class NotesModule {}

describe(createServiceApp.name, () => {
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    const config = Object.assign(new ServiceConfig(), { KAFKA_BROKERS: ['127.0.0.1:9092'] });
    app = await createServiceApp(
      { name: 'notes', description: 'test', configClass: ServiceConfig, module: () => NotesModule },
      config,
      createLogger('notes', 'silent'),
    );
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });

  afterAll(() => app.close());

  const post = async (path: string, body: string) => {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    return { status: res.status, body: (await res.json()) as unknown };
  };

  it('answers a path that is not percent-encoded UTF-8 with 400 naming the path', async () => {
    for (const path of ['/notes/%', '/notes/%E0%A4', '/notes/%ED%A0%80']) {
      expect(await post(path, '{"text":"x"}')).toEqual({
        status: 400,
        body: {
          error: {
            code: 'malformed_path',
            message: 'the path is not percent-encoded UTF-8',
            details: [{ field: 'path', reasons: ['must be percent-encoded UTF-8'] }],
          },
        },
      });
    }
  });

  it('answers NUL, an unpaired surrogate and deep nesting with 400 naming the field', async () => {
    expect(await post('/notes/n1', '{"text":"a\\u0000"}')).toMatchObject({
      status: 400,
      body: { error: { code: 'validation_failed', details: [{ field: 'text' }] } },
    });
    expect(await post('/notes/%00', '{"text":"a"}')).toMatchObject({
      status: 400,
      body: { error: { code: 'validation_failed', details: [{ field: 'id' }] } },
    });
    expect(await post('/notes/n1', '{"text":"\\udc00"}')).toMatchObject({
      status: 400,
      body: { error: { details: [{ field: 'text' }] } },
    });
    const deep = '{"text":'.repeat(50_000) + '"x"' + '}'.repeat(50_000);
    expect(await post('/notes/n1', deep)).toMatchObject({
      status: 400,
      body: { error: { code: 'validation_failed' } },
    });
  });

  it('answers a body that claims an encoding it does not have with 400', async () => {
    const res = await fetch(`${url}/notes/n1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: '{"text":"not gzip"}',
    });
    expect({ status: res.status, body: await res.json() }).toMatchObject({
      status: 400,
      body: { error: { code: 'malformed_body' } },
    });
  });

  it('takes well-formed text of any script as sent', async () => {
    const text = 'é\u0301 😀 👩‍👩‍👧 ‮ \u2028 \u0001';
    expect(await post('/notes/n%C3%A9', JSON.stringify({ text }))).toEqual({
      status: 201,
      body: { id: 'né', text },
    });
  });

  it('runs beforeBody before any body is read or parsed', async () => {
    const config = Object.assign(new ServiceConfig(), { KAFKA_BROKERS: ['127.0.0.1:9092'] });
    const early = await createServiceApp(
      {
        name: 'notes',
        description: 'test',
        configClass: ServiceConfig,
        module: () => NotesModule,
        beforeBody: () => (req, res, next) => {
          if (req.header('x-refuse')) res.status(429).json({ error: { code: 'refused' } });
          else next();
        },
      },
      config,
      createLogger('notes', 'silent'),
    );
    try {
      await early.listen(0, '127.0.0.1');
      const earlyUrl = `http://127.0.0.1:${(early.getHttpServer().address() as AddressInfo).port}`;
      const send = (headers: Record<string, string>) =>
        fetch(`${earlyUrl}/notes/n1`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: '{not json',
        }).then(async (res) => ({ status: res.status, body: (await res.json()) as unknown }));
      expect(await send({ 'x-refuse': '1' })).toEqual({ status: 429, body: { error: { code: 'refused' } } });
      expect(await send({})).toMatchObject({ status: 400, body: { error: { code: 'malformed_json' } } });
    } finally {
      await early.close();
    }
  });

  it('answers a direct route before express, and every other request through it', async () => {
    const config = Object.assign(new ServiceConfig(), { KAFKA_BROKERS: ['127.0.0.1:9092'] });
    const seen: unknown[] = [];
    const direct = await createServiceApp(
      {
        name: 'notes',
        description: 'test',
        configClass: ServiceConfig,
        module: () => NotesModule,
        bodyLimit: () => 1_000,
        directRoutes: () => [
          {
            method: 'POST',
            path: '/notes/fast',
            answer: (_req, body) => {
              seen.push(body);
              if ((body as { text?: string }).text === 'missing') {
                return Promise.reject(new AppError('not_found', 'note_not_found', 'no such note'));
              }
              if ((body as { text?: string }).text === 'bug') return Promise.reject(new Error('bug'));
              return Promise.resolve({ direct: body });
            },
          },
        ],
      },
      config,
      createLogger('notes', 'silent'),
    );
    try {
      await direct.listen(0, '127.0.0.1');
      const base = `http://127.0.0.1:${(direct.getHttpServer().address() as AddressInfo).port}`;
      const send = async (path: string, body: string) => {
        const res = await fetch(`${base}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-correlation-id': 'c-1' },
          body,
        });
        return {
          status: res.status,
          correlation: res.headers.get('x-correlation-id'),
          body: await res.json(),
        };
      };
      expect(await send('/notes/fast?x=1', '{"text":"a"}')).toEqual({
        status: 200,
        correlation: 'c-1',
        body: { direct: { text: 'a' } },
      });
      // Another spelling of the path, and other paths, reach the controller.
      expect(await send('/notes/FAST', '{"text":"b"}')).toMatchObject({
        status: 201,
        body: { id: 'FAST', text: 'b' },
      });
      expect(await send('/notes/fast', '{"text":"missing"}')).toEqual({
        status: 404,
        correlation: 'c-1',
        body: { error: { code: 'note_not_found', message: 'no such note' } },
      });
      expect(await send('/notes/fast', '{"text":"bug"}')).toMatchObject({
        status: 500,
        body: { error: { code: 'internal_error' } },
      });
      expect(await send('/notes/fast', '{"text":')).toMatchObject({
        status: 400,
        body: { error: { code: 'malformed_json' } },
      });
      expect(await send('/notes/fast', JSON.stringify({ text: 'x'.repeat(2_000) }))).toMatchObject({
        status: 413,
      });
      expect(seen).toEqual([{ text: 'a' }, { text: 'missing' }, { text: 'bug' }]);
    } finally {
      await direct.close();
    }
  });
});
