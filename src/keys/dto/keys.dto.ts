import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min, ValidateBy, ValidateIf, ValidateNested, ValidationOptions } from 'class-validator';
import { isPublicKey, isSignature, MAX_PREKEY_ID, MAX_PREKEYS_PER_CALL, MAX_REGISTRATION_ID } from '../key-encoding';

const PUBLIC_KEY_RULE = 'must be padded base64 of a 33-byte Curve25519 public key (type byte 0x05 first)';
const SIGNATURE_RULE = 'must be padded base64 of a 64-byte signature';
const KEY_EXAMPLE = 'BYJwFNVW6qX3DEyuVUEWREwPrHB9wKT86ey641zrunY+';
const SIGNATURE_EXAMPLE = 'XUUy60Ijo6iY79u2UJ2ExqCVh9i5Bh/105LxgaP41QpPl0NQqTfZw8yWs1w9jImBU1HrWZNaDNRTcyNq78/HQg==';

function IsPublicKey(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy({ name: 'isPublicKey', validator: { validate: isPublicKey, defaultMessage: (a) => `${a?.property} ${PUBLIC_KEY_RULE}` } }, options);
}

function IsSignature(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy({ name: 'isSignature', validator: { validate: isSignature, defaultMessage: (a) => `${a?.property} ${SIGNATURE_RULE}` } }, options);
}

/** What is wrong with a list of one-time prekeys as a whole, if anything (one message, not three). */
function preKeyListProblem(value: unknown): string | null {
  if (!Array.isArray(value)) return 'must be an array of {keyId, publicKey}';
  if (value.length > MAX_PREKEYS_PER_CALL) return `holds at most ${MAX_PREKEYS_PER_CALL} keys per call`;
  // ValidateNested reads an array entry as a list of nested keys, so `[[]]` would pass it empty.
  if (value.some((key) => key === null || typeof key !== 'object' || Array.isArray(key))) return 'must be an array of {keyId, publicKey}';
  const ids = value.map((key: { keyId?: unknown } | null) => key?.keyId);
  return new Set(ids).size === ids.length ? null : 'must not repeat a keyId';
}

/** A list of one-time prekeys: at most 200 per call, each key id once, each key well-formed. */
function PreKeyList(): PropertyDecorator {
  const decorators = [
    ValidateBy({
      name: 'preKeyList',
      validator: { validate: (value) => preKeyListProblem(value) === null, defaultMessage: (a) => `${a?.property} ${preKeyListProblem(a?.value)}` },
    }),
    ValidateNested({ each: true }),
    Type(() => PreKeyDto),
  ];
  return (target, property) => decorators.forEach((decorate) => decorate(target, property));
}

export class PreKeyDto {
  @ApiProperty({ minimum: 0, maximum: MAX_PREKEY_ID, example: 1 })
  @IsInt()
  @Min(0)
  @Max(MAX_PREKEY_ID)
  keyId: number;

  @ApiProperty({ description: `Padded base64, 33 bytes: 0x05 then the Curve25519 key`, example: KEY_EXAMPLE })
  @IsPublicKey()
  publicKey: string;
}

/** `POST /api/keys/bundle`: the whole bundle, flat, as the clients send it. */
export class UploadBundleDto {
  @ApiProperty({ minimum: 0, maximum: MAX_REGISTRATION_ID, example: 4242 })
  @IsInt()
  @Min(0)
  @Max(MAX_REGISTRATION_ID)
  registrationId: number;

  @ApiProperty({ description: 'Identity public key: padded base64, 33 bytes (0x05 + 32)', example: KEY_EXAMPLE })
  @IsPublicKey()
  identityKey: string;

  @ApiProperty({ minimum: 0, maximum: MAX_PREKEY_ID, example: 1 })
  @IsInt()
  @Min(0)
  @Max(MAX_PREKEY_ID)
  signedPreKeyId: number;

  @ApiProperty({ description: 'Signed prekey public key: padded base64, 33 bytes (0x05 + 32)', example: KEY_EXAMPLE })
  @IsPublicKey()
  signedPreKey: string;

  @ApiProperty({ description: 'XEdDSA signature of signedPreKey by the identity key: padded base64, 64 bytes', example: SIGNATURE_EXAMPLE })
  @IsSignature()
  signedPreKeySig: string;

  @ApiProperty({ type: [PreKeyDto], maxItems: MAX_PREKEYS_PER_CALL, description: 'Replaces every stored one-time prekey; may be empty' })
  @PreKeyList()
  oneTimePreKeys: PreKeyDto[];
}

/** `POST /api/keys/replenish`: `preKeys` per the wire contract, `oneTimePreKeys` as the API text names it. */
export class ReplenishDto {
  @ApiProperty({ type: [PreKeyDto], maxItems: MAX_PREKEYS_PER_CALL, required: false, description: 'Required unless `oneTimePreKeys` is sent' })
  @ValidateIf((body: ReplenishDto) => body.preKeys !== undefined || body.oneTimePreKeys === undefined)
  @PreKeyList()
  preKeys?: PreKeyDto[];

  @ApiProperty({ type: [PreKeyDto], maxItems: MAX_PREKEYS_PER_CALL, required: false, description: 'Alias of `preKeys`; send one of the two' })
  @IsOptional()
  @ValidateBy({
    name: 'notWithPreKeys',
    validator: { validate: (_value, args) => (args?.object as ReplenishDto).preKeys === undefined, defaultMessage: () => 'send either preKeys or oneTimePreKeys, not both' },
  })
  @PreKeyList()
  oneTimePreKeys?: PreKeyDto[];
}

export class PreKeyOutDto {
  @ApiProperty() keyId: number;
  @ApiProperty({ example: KEY_EXAMPLE }) publicKey: string;
}

/** `GET /api/keys/bundle/:userId`. */
export class BundleDto {
  @ApiProperty() registrationId: number;
  @ApiProperty({ example: KEY_EXAMPLE }) identityKey: string;
  @ApiProperty() signedPreKeyId: number;
  @ApiProperty({ example: KEY_EXAMPLE }) signedPreKey: string;
  @ApiProperty({ example: SIGNATURE_EXAMPLE }) signedPreKeySig: string;
  @ApiProperty({ type: PreKeyOutDto, nullable: true, description: 'One one-time prekey, deleted as it is handed out; null when none are left' })
  preKey: PreKeyOutDto | null;
}

export class UploadedDto {
  @ApiProperty({ enum: [true] }) uploaded: true;
}

export class HasBundleDto {
  @ApiProperty() hasBundle: boolean;
}

export class AddedDto {
  @ApiProperty({ description: 'How many keys were stored; keys re-sent with the same id and key are not counted' }) added: number;
}

export class CountDto {
  @ApiProperty({ description: 'One-time prekeys left to hand out' }) count: number;
}
