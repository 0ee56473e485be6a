import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Length } from 'class-validator';

export class SearchUsersQueryDto {
  @ApiProperty({ minLength: 1, maxLength: 32, description: 'part of a nickname, case-insensitive' })
  @IsString()
  @Length(1, 32)
  q: string;
}

export class BlockedListQueryDto {
  @ApiPropertyOptional({ enum: ['0', '1', 'true', 'false'], description: '1 or true: User objects; otherwise the users\' ids' })
  @IsOptional()
  @IsIn(['0', '1', 'true', 'false'])
  full?: string;
}
