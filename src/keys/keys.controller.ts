import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiCookieAuth, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { Auth, AuthContext } from '../auth/auth-context';
import { ApiEnvelope, ApiErrors } from '../core/http/api-docs';
import { AddedDto, BundleDto, CountDto, HasBundleDto, ReplenishDto, UploadBundleDto, UploadedDto } from './dto/keys.dto';
import { KeysService, PREKEYS_LOW_THRESHOLD } from './keys.service';

@ApiTags('keys')
@ApiCookieAuth()
@Controller('api/keys')
export class KeysController {
  constructor(private readonly keys: KeysService) {}

  @Post('bundle')
  @HttpCode(201)
  @ApiOperation({
    summary: 'Upload your PreKey bundle',
    description: 'Creates or replaces the identity key and signed prekey, and replaces every stored one-time prekey with the ones sent (at most 200). Answers 201.',
  })
  @ApiEnvelope(UploadedDto, { status: 201 })
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR')
  async upload(@Auth() auth: AuthContext, @Body() body: UploadBundleDto): Promise<UploadedDto> {
    await this.keys.upload(auth.userId, body);
    return { uploaded: true };
  }

  @Get('bundle/:userId')
  @ApiOperation({
    summary: "Fetch a user's PreKey bundle (consumes one one-time prekey)",
    description:
      'Each one-time prekey is handed out at most once, even to concurrent callers; with none left, `preKey` is null. ' +
      'Your own bundle is refused (422 CANNOT_TARGET_SELF); a user who blocked you answers 403 BLOCKED. ' +
      'A caller may fetch RATE_LIMIT_BUNDLE_FETCH bundles per window (429 RATE_LIMIT beyond); a user hands out RATE_LIMIT_PREKEY_HAND_OUT ' +
      'one-time prekeys per window, after which `preKey` is null until the window ends. ' +
      `The owner's sockets get \`keys:low {count}\` when a hand-out leaves fewer than ${PREKEYS_LOW_THRESHOLD}.`,
  })
  @ApiParam({ name: 'userId', format: 'uuid' })
  @ApiEnvelope(BundleDto)
  @ApiErrors('UNAUTHORIZED', 'BUNDLE_NOT_FOUND', 'BLOCKED', 'CANNOT_TARGET_SELF', 'RATE_LIMIT')
  fetch(@Auth() auth: AuthContext, @Param('userId') userId: string): Promise<BundleDto> {
    return this.keys.fetchBundle(auth.userId, userId);
  }

  @Get('has-bundle/:userId')
  @ApiOperation({ summary: 'Whether a user (or you) has uploaded a bundle; consumes nothing' })
  @ApiParam({ name: 'userId', format: 'uuid' })
  @ApiEnvelope(HasBundleDto)
  @ApiErrors('UNAUTHORIZED', 'USER_NOT_FOUND', 'BLOCKED')
  async hasBundle(@Auth() auth: AuthContext, @Param('userId') userId: string): Promise<HasBundleDto> {
    return { hasBundle: await this.keys.bundleStatus(auth.userId, userId) };
  }

  @Post('replenish')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Add one-time prekeys (at most 200 per call)',
    description:
      'Body `{preKeys}` (or `{oneTimePreKeys}`). A key re-sent with an id and public key already stored is skipped and not counted in `added`; ' +
      'an id already stored with a different public key answers 409 PREKEY_ID_TAKEN with `keyIds`, and nothing of the call is stored.',
  })
  @ApiEnvelope(AddedDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'BUNDLE_NOT_FOUND', 'PREKEY_ID_TAKEN', 'PREKEY_LIMIT')
  async replenish(@Auth() auth: AuthContext, @Body() body: ReplenishDto): Promise<AddedDto> {
    return { added: await this.keys.replenish(auth.userId, body.preKeys ?? body.oneTimePreKeys ?? []) };
  }

  @Get('count')
  @ApiOperation({ summary: 'How many of your one-time prekeys are left' })
  @ApiEnvelope(CountDto)
  @ApiErrors('UNAUTHORIZED')
  async count(@Auth() auth: AuthContext): Promise<CountDto> {
    return { count: await this.keys.countPreKeys(auth.userId) };
  }
}
