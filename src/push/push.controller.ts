import { Body, Controller, Delete, Get, HttpCode, Post, Req } from '@nestjs/common';
import { ApiCookieAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { Auth, AuthContext } from '../auth/auth-context';
import { AppConfig } from '../core/config/app-config';
import { ApiEnvelope, ApiErrors } from '../core/http/api-docs';
import { OriginPolicy } from '../core/http/origin-policy';
import { Public } from '../core/http/public.decorator';
import { DeviceTokenIdDto, DeviceTokenRemovedDto, RegisterDeviceTokenDto, RemoveDeviceTokenDto, VapidKeyDto } from './dto/push.dto';
import { DeviceTokensService } from './device-tokens.service';

/** Web Push (wire-contract-v2.2 §12): the server's VAPID key and the caller's device tokens. */
@ApiTags('push')
@Controller('api')
export class PushController {
  private readonly origins: OriginPolicy;

  constructor(
    private readonly tokens: DeviceTokensService,
    config: AppConfig,
  ) {
    this.origins = new OriginPolicy(config.values.corsOrigins, config.values.trustProxy);
  }

  /** Public, and never 401: the web client asks before deciding whether to subscribe. */
  @Public()
  @Get('push/vapid-key')
  @ApiOperation({ summary: 'The VAPID public key to subscribe with (applicationServerKey), or null when push is off' })
  @ApiEnvelope(VapidKeyDto)
  vapidKey(): VapidKeyDto {
    return { vapidPublicKey: this.tokens.vapidPublicKey() };
  }

  @Post('users/me/device-token')
  @HttpCode(200)
  @ApiCookieAuth()
  @ApiOperation({
    summary:
      'Register a push token for this session (upsert by token: a token held by another user moves to you). ' +
      'WEB: the PushSubscription JSON, whose https endpoint must be a public address. IOS/ANDROID tokens are stored but not sent to (no APNs/FCM sender)',
  })
  @ApiEnvelope(DeviceTokenIdDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'SERVICE_UNAVAILABLE')
  register(@Auth() auth: AuthContext, @Body() body: RegisterDeviceTokenDto, @Req() request: Request): Promise<DeviceTokenIdDto> {
    return this.tokens.register(auth, body, this.origins.ownOrigin(request));
  }

  /** Public and never 401: the web client unsubscribes after its logout has ended the session. */
  @Public()
  @Delete('users/me/device-token')
  @ApiOperation({ summary: 'Remove a push token, matched by the token alone (works without a session); 200 even if nothing matched' })
  @ApiEnvelope(DeviceTokenRemovedDto)
  @ApiErrors('VALIDATION_ERROR')
  async remove(@Body() body: RemoveDeviceTokenDto): Promise<DeviceTokenRemovedDto> {
    await this.tokens.remove(body.token);
    return { message: 'removed' };
  }
}
