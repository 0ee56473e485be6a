import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { UserEntity } from '../entities/user.entity';

/** The User object of the wire contract. `email` only in the owner's own profile. */
export class UserDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() nickname: string;
  @ApiProperty({ type: String, nullable: true }) firstName: string | null;
  @ApiProperty({ type: String, nullable: true }) lastName: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'relative /uploads/… path' }) avatar: string | null;
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

export function toUserDto(user: UserEntity, presence: PresenceView, options: { withEmail?: boolean } = {}): UserDto {
  return {
    id: user.id,
    nickname: user.nickname,
    firstName: user.firstName,
    lastName: user.lastName,
    avatar: user.avatar,
    bio: user.bio,
    isOnline: presence.isOnline,
    lastOnline: presence.lastOnline ? presence.lastOnline.toISOString() : null,
    ...(options.withEmail ? { email: user.email } : {}),
  };
}
