import { Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiCookieAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Auth, AuthContext } from '../auth/auth-context';
import { ApiEnvelope, ApiErrors } from '../core/http/api-docs';
import { ContactAddedDto, ContactCheckDto, ContactDto, ContactRemovedDto } from './dto/contact.dto';
import { ContactsService } from './contacts.service';

@ApiTags('contacts')
@ApiCookieAuth()
@Controller('api/contacts')
export class ContactsController {
  constructor(private readonly contacts: ContactsService) {}

  @Get()
  @ApiOperation({ summary: 'Your contacts, alphabetical, with isMutual and presence as each allows' })
  @ApiEnvelope(ContactDto, { isArray: true })
  @ApiErrors('UNAUTHORIZED')
  list(@Auth() auth: AuthContext): Promise<ContactDto[]> {
    return this.contacts.list(auth.userId);
  }

  @Get('check/:id')
  @ApiOperation({ summary: 'Whether a user is in your contacts, and whether you are in theirs too' })
  @ApiEnvelope(ContactCheckDto)
  @ApiErrors('UNAUTHORIZED', 'USER_NOT_FOUND')
  check(@Auth() auth: AuthContext, @Param('id') id: string): Promise<ContactCheckDto> {
    return this.contacts.check(auth.userId, id);
  }

  @Post(':contactId')
  @HttpCode(200)
  @ApiOperation({ summary: 'Add a user to your contacts (idempotent); at most CONTACTS_MAX (5,000 by default)' })
  @ApiEnvelope(ContactAddedDto)
  @ApiErrors('UNAUTHORIZED', 'USER_NOT_FOUND', 'CANNOT_TARGET_SELF', 'CONTACTS_LIMIT')
  async add(@Auth() auth: AuthContext, @Param('contactId') contactId: string): Promise<ContactAddedDto> {
    await this.contacts.add(auth.userId, contactId);
    return { added: true };
  }

  @Delete(':contactId')
  @ApiOperation({ summary: 'Remove a user from your contacts (idempotent)' })
  @ApiEnvelope(ContactRemovedDto)
  @ApiErrors('UNAUTHORIZED', 'USER_NOT_FOUND', 'CANNOT_TARGET_SELF')
  async remove(@Auth() auth: AuthContext, @Param('contactId') contactId: string): Promise<ContactRemovedDto> {
    await this.contacts.remove(auth.userId, contactId);
    return { removed: true };
  }
}
