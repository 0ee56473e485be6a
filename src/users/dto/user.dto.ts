import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { UserEntity } from '../entities/user.entity';

/** The User object of the wire contract. `email` only in the owner's own profile. */
export class UserDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() nickname: string;
  @ApiProperty({ type: String, nullable: true }) firstName: string | null;
  @ApiProperty({ type: String, nullable: true }) lastName: string | null;
  @ApiProperty({ type: String, nullable: true, description: "relative /uploads/… path; null when the user's showAvatar hides it from the viewer" }) avatar: string | null;
  @ApiProperty({ type: String, nullable: true }) bio: string | null;
  @ApiProperty() isOnline: boolean;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) lastOnline: string | null;
  @ApiPropertyOptional() email?: string;
}

export interface PresenceView {
  isOnline: boolean;
  /** Hidden (null) when the user's settings hide their presence from the viewer. */
  lastOnline: Date | null;
}

/** `hideAvatar`: the user's showAvatar does not let the viewer see it (avatar null). */
export function toUserDto(user: UserEntity, presence: PresenceView, options: { withEmail?: boolean; hideAvatar?: boolean } = {}): UserDto {
  return {
    id: user.id,
    nickname: user.nickname,
    firstName: user.firstName,
    lastName: user.lastName,
    avatar: options.hideAvatar ? null : user.avatar,
    bio: user.bio,
    isOnline: presence.isOnline,
    lastOnline: presence.lastOnline ? presence.lastOnline.toISOString() : null,
    ...(options.withEmail ? { email: user.email } : {}),
  };
}

/** `GET /api/users/public/:nickname` (contract v2.2 §13): what anyone may see, no presence. */
export class PublicUserDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() nickname: string;
  @ApiProperty({ type: String, nullable: true }) firstName: string | null;
  @ApiProperty({ type: String, nullable: true }) lastName: string | null;
  @ApiProperty({ type: String, nullable: true, description: "relative /uploads/… path; null unless the user's showAvatar is all" }) avatar: string | null;
  @ApiProperty({ type: String, nullable: true }) bio: string | null;
}
