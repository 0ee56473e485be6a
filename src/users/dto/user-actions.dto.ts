import { ApiProperty } from '@nestjs/swagger';

export class BlockResultDto {
  @ApiProperty() blocked: boolean;
}

export class DeletedAccountDto {
  @ApiProperty() deleted: boolean;
}
