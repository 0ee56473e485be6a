import { Injectable } from '@nestjs/common';
import { AppConfig } from '../core/config/app-config';
import { isUuid } from '../core/database/ids';
import { AppError } from '../core/errors';
import { between, PresenceRelations } from '../presence/presence-relations';
import { UsersService } from '../users/users.service';
import { ContactCheckDto, ContactDto, toContactDto } from './dto/contact.dto';
import { ContactsRepository } from './contacts.repository';

/** A user's private address book. Adding someone does not notify them; `isMutual` shows whether they added you too. */
@Injectable()
export class ContactsService {
  constructor(
    private readonly contacts: ContactsRepository,
    private readonly users: UsersService,
    private readonly relations: PresenceRelations,
    private readonly config: AppConfig,
  ) {}

  async list(ownerId: string): Promise<ContactDto[]> {
    const contacts = await this.contacts.listOf(ownerId);
    const profiles = await this.users.profilesFromFacts(ownerId, contacts);
    return profiles.map((profile, i) => toContactDto(profile, contacts[i].isMutual));
  }

  /**
   * Presence follows contacts both ways: each side that may now see the other's presence gets its
   * current state; the contact gets the owner's avatar when the owner shows it to contacts only.
   * At most CONTACTS_MAX contacts (the list is answered whole, and each one is a presence follow):
   * past it CONTACTS_LIMIT, and nobody is told anything.
   */
  async add(ownerId: string, contactId: string): Promise<void> {
    const max = this.config.values.contactsMax;
    const stored = await this.users.writeAboutOther(ownerId, contactId, () => this.contacts.add(ownerId, contactId, max));
    if (!stored) throw new AppError('CONTACTS_LIMIT', `At most ${max} contacts are kept; remove some to add others`);
    await this.relations.started(between([ownerId], [contactId]));
    await this.users.contactChanged(ownerId, contactId);
  }

  /** A side that saw the other's presence, or the owner's avatar, through this contact alone gets user:offline, or `user:updated {avatar: null}`. */
  async remove(ownerId: string, contactId: string): Promise<void> {
    await this.users.requireOther(ownerId, contactId);
    await this.relations.around(between([ownerId], [contactId]), () => this.contacts.remove(ownerId, contactId));
    await this.users.contactChanged(ownerId, contactId);
  }

  async check(ownerId: string, otherId: string): Promise<ContactCheckDto> {
    if (otherId !== ownerId) await this.users.requireOther(ownerId, otherId);
    else if (!isUuid(otherId)) throw new AppError('USER_NOT_FOUND');
    const { isContact, addedBack } = await this.contacts.relation(ownerId, otherId);
    return { isContact, isMutual: isContact && addedBack };
  }
}
