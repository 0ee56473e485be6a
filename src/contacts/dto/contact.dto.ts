import { ApiProperty } from '@nestjs/swagger';
import type { UserDto } from '../../users/dto/user.dto';

/** The Contact object of the wire contract; presence as the contact's privacy settings allow. */
export class ContactDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() nickname: string;
  @ApiProperty({ type: String, nullable: true }) firstName: string | null;
  @ApiProperty({ type: String, nullable: true }) lastName: string | null;
  @ApiProperty({ type: String, nullable: true }) avatar: string | null;
  @ApiProperty() isOnline: boolean;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) lastOnline: string | null;
  @ApiProperty({ description: 'they have added you too' }) isMutual: boolean;
}

export class ContactAddedDto {
  @ApiProperty({ enum: [true] }) added: true;
}

export class ContactRemovedDto {
  @ApiProperty({ enum: [true] }) removed: true;
}

export class ContactCheckDto {
  @ApiProperty() isContact: boolean;
  @ApiProperty() isMutual: boolean;
}

export function toContactDto(user: UserDto, isMutual: boolean): ContactDto {
  return {
    id: user.id,
    nickname: user.nickname,
    firstName: user.firstName,
    lastName: user.lastName,
    avatar: user.avatar,
    isOnline: user.isOnline,
    lastOnline: user.lastOnline,
    isMutual,
  };
}
