import { ApiProperty } from '@nestjs/swagger';
import { IsIn } from 'class-validator';
import { ChatType } from '../../chats/entities/chat.entity';
import { MessageType } from '../../messages/entities/message.entity';
import { ExportChatRow, ExportMessageRow, ExportPerson } from '../export.repository';

export const EXPORT_FORMATS = ['html', 'json'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export class ExportQuery {
  @ApiProperty({ enum: EXPORT_FORMATS, description: 'html: a self-contained page (what the web client asks for); json: the shape of ExportFileDto' })
  @IsIn(EXPORT_FORMATS, { message: 'format must be html or json' })
  format: ExportFormat;
}

/** A person in an export (wire-contract-v2.2 §14). */
export class ExportPersonDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() nickname: string;
  @ApiProperty({ type: String, nullable: true }) firstName: string | null;
  @ApiProperty({ type: String, nullable: true }) lastName: string | null;
}

export class ExportMessageDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ type: String, nullable: true, description: 'null when the sender deleted their account' }) senderId: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'the display name: `firstName lastName`, else the nickname' }) senderName: string | null;
  @ApiProperty({ enum: ['TEXT', 'IMAGE', 'FILE', 'AUDIO', 'VIDEO', 'SYSTEM'] }) type: MessageType;
  @ApiProperty({ type: String, nullable: true }) text: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'the relative `/uploads/…` path, as in every Message' }) mediaUrl: string | null;
  @ApiProperty({ type: String, nullable: true }) mediaName: string | null;
  @ApiProperty({ type: String, nullable: true }) forwardSenderName: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty() isEdited: boolean;
}

export class ExportChatDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ enum: ['DIRECT', 'GROUP', 'SELF'] }) type: ChatType;
  @ApiProperty({ type: String, nullable: true, description: "a group's name, the partner's display name for a direct chat, `Saved Messages` for SELF" })
  name: string | null;
  @ApiProperty({ type: [ExportPersonDto], description: 'the current members, the first to join first' }) members: ExportPersonDto[];
  @ApiProperty({ type: [ExportMessageDto], description: 'what the caller can see (not hidden by them, not deleted), oldest first' })
  messages: ExportMessageDto[];
}

/** `format=json`: every visible chat of the caller except SECRET ones, in creation order, archived and saved messages included. */
export class ExportFileDto {
  @ApiProperty({ format: 'date-time' }) exportedAt: string;
  @ApiProperty({ type: ExportPersonDto }) user: ExportPersonDto;
  @ApiProperty({ type: [ExportChatDto] }) chats: ExportChatDto[];
}

/** The name of SELF chats in exports, as the web client labels them. */
export const SAVED_MESSAGES = 'Saved Messages';

/** The wire contract's display name (§0): `firstName lastName` (the non-empty parts), else the nickname. */
export function displayName(person: { nickname: string; firstName: string | null; lastName: string | null }): string {
  return [person.firstName, person.lastName].filter((part) => part && part.trim()).join(' ') || person.nickname;
}

/** An export's chat head: the fields before its messages. */
export type ExportChatHead = Omit<ExportChatDto, 'messages'>;

export function toExportPerson(row: ExportPerson): ExportPersonDto {
  return { id: row.id, nickname: row.nickname, firstName: row.firstName, lastName: row.lastName };
}

export function toExportChat(row: ExportChatRow, viewerId: string): ExportChatHead {
  const members = row.members.map(toExportPerson);
  const partner = members.find((m) => m.id !== viewerId);
  const name = row.type === 'SELF' ? SAVED_MESSAGES : row.type === 'GROUP' ? row.name : partner ? displayName(partner) : row.name;
  return { id: row.id, type: row.type, name, members };
}

export function toExportMessage(row: ExportMessageRow): ExportMessageDto {
  const sender = row.senderNickname === null ? null : { nickname: row.senderNickname, firstName: row.senderFirstName, lastName: row.senderLastName };
  return {
    id: row.id,
    senderId: row.senderId,
    senderName: sender ? displayName(sender) : null,
    type: row.type,
    text: row.text,
    mediaUrl: row.mediaUrl,
    mediaName: row.mediaName,
    forwardSenderName: row.forwardSenderName,
    createdAt: new Date(row.createdAt).toISOString(),
    isEdited: row.isEdited,
  };
}
