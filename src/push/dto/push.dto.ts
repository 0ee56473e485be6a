import { ApiProperty } from '@nestjs/swagger';
import { IsIn, IsString, MaxLength, MinLength } from 'class-validator';
import { DEVICE_PLATFORMS, DevicePlatform } from '../push.repository';

/** Our rule (§12): a token is at most 4096 characters. */
export const MAX_DEVICE_TOKEN = 4096;

export class VapidKeyDto {
  @ApiProperty({ type: String, nullable: true, description: 'base64url uncompressed P-256 public key (applicationServerKey); null when push is off' })
  vapidPublicKey: string | null;
}

export class RegisterDeviceTokenDto {
  @ApiProperty({ maxLength: MAX_DEVICE_TOKEN, description: 'WEB: the JSON string of the PushSubscription (https endpoint, keys.p256dh, keys.auth); IOS/ANDROID: the platform token' })
  @IsString()
  @MinLength(1)
  @MaxLength(MAX_DEVICE_TOKEN)
  token: string;

  @ApiProperty({ enum: DEVICE_PLATFORMS })
  @IsIn(DEVICE_PLATFORMS)
  platform: DevicePlatform;
}

export class RemoveDeviceTokenDto {
  @ApiProperty({ maxLength: MAX_DEVICE_TOKEN })
  @IsString()
  @MinLength(1)
  @MaxLength(MAX_DEVICE_TOKEN)
  token: string;
}

export class DeviceTokenIdDto {
  @ApiProperty({ format: 'uuid' }) id: string;
}

export class DeviceTokenRemovedDto {
  @ApiProperty({ enum: ['removed'] }) message: 'removed';
}
