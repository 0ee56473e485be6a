import { Transform } from 'class-transformer';
import { IsOptional, IsString, MaxLength, ValidateNested } from 'class-validator';
import { TypingDto } from '../../chats/typing.socket';
import { HistoryQuery, ListenedDto, ReactionRequestDto, ReadMessageDto, SendMessageDto } from '../../messages/dto/message-requests.dto';
import { AppError } from '../errors';
import { compileAcceptor } from './compiled-validation';
import { createValidationPipe, validatePayload } from './validation';

const UUID = '0190a6f2-8d4e-7b3c-9a1f-2b3c4d5e6f70';

/** Candidate values per field: valid ones, wrong types, out of range, null, absent (undefined). */
const VALUES: Record<string, unknown[]> = {
  chatId: [UUID, UUID.toUpperCase(), `{${UUID}}`, 'not-a-uuid', '', 5, null, undefined, true],
  messageId: [UUID, 'x', null, undefined, 1],
  text: ['hello', '  spaced  ', '', 'é'.repeat(8192), 'é'.repeat(8193), null, undefined, 5, false],
  type: ['TEXT', 'IMAGE', 'VIDEO', 'STICKER', '', null, undefined, 1],
  mediaUrl: ['/uploads/a.png', 'x'.repeat(513), null, undefined, 3],
  mediaName: ['a.png', 'x'.repeat(256), null, undefined],
  mediaSize: [0, 10, -1, 1.5, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, '10', null, undefined, NaN],
  mediaGroupId: ['album:1', 'x'.repeat(65), 'bad space', '', null, undefined],
  replyToId: [UUID, 'nope', null, undefined],
  forwardedFromId: [UUID, 'nope', null, undefined],
  forwardSenderName: ['Ann', 'x'.repeat(129), null, undefined],
  ciphertext: ['YWJj+/=_-', 'a b', '', null, undefined],
  signalType: [0, 3, 10, 11, -1, 2.5, '1', null, undefined],
  clientMessageId: ['c-1', '', 'x'.repeat(65), 7, null, undefined],
};
const EXTRA_FIELDS: Array<Record<string, unknown>> = [{ unknown: 1 }, { constructor: 1 }, { toString: 'x' }, { chatId2: UUID }];

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

function payloads(fields: string[], count: number, seed: number): Array<Record<string, unknown>> {
  const next = random(seed);
  const pick = <T>(list: T[]): T => list[Math.floor(next() * list.length)];
  const out: Array<Record<string, unknown>> = [];
  for (let i = 0; i < count; i++) {
    const payload: Record<string, unknown> = {};
    for (const field of fields) {
      // Mostly valid values, so that many payloads pass and the shortcut is exercised.
      const value = next() < 0.7 ? VALUES[field][0] : pick(VALUES[field]);
      if (value !== undefined && (field === 'chatId' || field === 'messageId' || next() < 0.5)) payload[field] = value;
    }
    if (next() < 0.05) Object.assign(payload, pick(EXTRA_FIELDS));
    if (next() < 0.05) payload.text = { nested: 'object' };
    out.push(payload);
  }
  return out;
}

async function throughPipe(dto: new () => object, payload: Record<string, unknown>): Promise<{ value?: object; errors?: unknown }> {
  try {
    return { value: (await createValidationPipe().transform({ ...payload }, { type: 'body', metatype: dto })) as object };
  } catch (error) {
    return { errors: (error as AppError).details };
  }
}

describe('compileAcceptor', () => {
  it.each([
    ['SendMessageDto', SendMessageDto, Object.keys(VALUES).filter((f) => f !== 'messageId')],
    ['ReadMessageDto', ReadMessageDto, ['messageId', 'chatId']],
    ['ListenedDto', ListenedDto, ['messageId', 'chatId']],
    ['TypingDto', TypingDto, ['chatId']],
  ] as const)('accepts only what the validation pipe accepts, as the instance it makes (%s)', async (_name, dto, fields) => {
    const accept = compileAcceptor(dto as new () => object)!;
    expect(accept).not.toBeNull();
    let accepted = 0;
    let valid = 0;
    for (const payload of payloads([...fields], 800, 17)) {
      const fast = accept(payload);
      const { value } = await throughPipe(dto as new () => object, payload);
      if (value) valid++;
      if (!fast) continue;
      accepted++;
      expect(fast).toBeInstanceOf(dto);
      expect(fast).toEqual(value);
    }
    // The shortcut is taken for every payload the pipe accepts that has no unknown field.
    expect(valid).toBeGreaterThan(100);
    expect(accepted).toBeGreaterThan(valid * 0.9);
  });

  it('takes the typical message:send frame', () => {
    const payload = { chatId: UUID, text: 'hi', clientMessageId: 'c-1', replyToId: null };
    expect(compileAcceptor(SendMessageDto)!(payload)).toEqual(Object.assign(new SendMessageDto(), payload));
  });

  it('leaves DTOs that class-transformer changes, or that nest, to the pipe', () => {
    expect(compileAcceptor(ReactionRequestDto)).toBeNull();
    expect(compileAcceptor(HistoryQuery)).toBeNull();
    class Trimmed {
      @Transform(({ value }) => (typeof value === 'string' ? value.trim() : value)) @IsString() @MaxLength(3) name: string;
    }
    class Nested {
      @IsOptional() @ValidateNested() inner?: object;
    }
    expect(compileAcceptor(Trimmed)).toBeNull();
    expect(compileAcceptor(Nested)).toBeNull();
  });
});

describe('validatePayload', () => {
  it('refuses an invalid payload with the pipe\'s errors', async () => {
    const refusal = await validatePayload(SendMessageDto, { chatId: 'x', text: 5, extra: 1 }).catch((error: AppError) => error);
    expect(refusal).toMatchObject({ code: 'VALIDATION_ERROR', details: (await throughPipe(SendMessageDto, { chatId: 'x', text: 5, extra: 1 })).errors });
    expect(Object.keys((refusal as AppError).details!.errors as object).sort()).toEqual(['chatId', 'extra', 'text']);
  });

  it('returns an instance of the DTO for a valid payload', async () => {
    const value = await validatePayload(SendMessageDto, { chatId: UUID, text: 'hi' });
    expect(value).toBeInstanceOf(SendMessageDto);
    expect({ ...value }).toEqual({ chatId: UUID, text: 'hi' });
  });
});
