import escapeHtml from 'escape-html';
import { displayName, ExportChatHead, ExportFormat, ExportMessageDto, ExportPersonDto } from './dto/export.dto';

/**
 * Writes an export piece by piece, in the order begin, then per chat beginChat, messages (any
 * number of pages), endChat, and last end. Every piece is a string to send as it is; a writer
 * keeps only what it needs to join the pieces (commas, one chat's member names).
 */
export interface ExportWriter {
  readonly format: ExportFormat;
  readonly contentType: string;
  /** Response headers beside Content-Type and Content-Disposition. */
  readonly headers: Record<string, string>;
  begin(exportedAt: Date, user: ExportPersonDto): string;
  beginChat(chat: ExportChatHead): string;
  messages(page: ExportMessageDto[]): string;
  endChat(): string;
  end(): string;
}

/** Valid JSON of the §14 shape, each value through JSON.stringify, the brackets and commas around them by hand. */
export class JsonExportWriter implements ExportWriter {
  readonly format = 'json';
  readonly contentType = 'application/json; charset=utf-8';
  readonly headers = {};
  private chats = 0;
  private messagesInChat = 0;

  begin(exportedAt: Date, user: ExportPersonDto): string {
    return `{"exportedAt":${JSON.stringify(exportedAt.toISOString())},"user":${JSON.stringify(user)},"chats":[`;
  }

  beginChat(chat: ExportChatHead): string {
    this.messagesInChat = 0;
    const head = JSON.stringify({ id: chat.id, type: chat.type, name: chat.name, members: chat.members });
    // The head object without its closing brace, continued by the messages array.
    return `${this.chats++ ? ',' : ''}${head.slice(0, -1)},"messages":[`;
  }

  messages(page: ExportMessageDto[]): string {
    if (!page.length) return '';
    const text = page.map((m) => JSON.stringify(m)).join(',');
    const joined = this.messagesInChat ? `,${text}` : text;
    this.messagesInChat += page.length;
    return joined;
  }

  endChat(): string {
    return ']}';
  }

  end(): string {
    return ']}';
  }
}

/**
 * The policy of the exported page, sent as a header and repeated in a meta tag (a saved file
 * has no headers): no script, no request to anywhere (media are links the reader follows, never
 * loaded by the page), only the page's own inline style.
 */
const PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

const STYLE = `body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:860px;padding:24px;color:#1c1c1e;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 4px;padding-top:16px;border-top:1px solid #ddd}
.meta{color:#6b6b70;font-size:13px;margin:0 0 12px}ol{list-style:none;margin:0;padding:0}
li{padding:6px 0;border-bottom:1px solid #f0f0f2}.head{font-size:13px;color:#6b6b70}.sender{font-weight:600;color:#1c1c1e}
.text{white-space:pre-wrap;overflow-wrap:anywhere}.system{font-style:italic;color:#6b6b70}.fwd{font-size:13px;color:#3a7bd5}
.empty{color:#6b6b70;font-style:italic}a{color:#3a7bd5}`;

/** Media links the page may carry: the server's own uploads (`/uploads/…`), made absolute when the server's origin is known. */
const UPLOAD_PATH = /^\/uploads\/[A-Za-z0-9._\/-]+$/;

/**
 * A self-contained HTML page. Every string that comes from a user (names, message text, file
 * names, links) goes through escapeHtml, in text and in double-quoted attributes alike, so
 * nothing in the data can open a tag or leave an attribute; only `/uploads/…` paths and
 * absolute http(s) URLs ever become an href.
 */
export class HtmlExportWriter implements ExportWriter {
  readonly format = 'html';
  readonly contentType = 'text/html; charset=utf-8';
  readonly headers = { 'Content-Security-Policy': `${PAGE_POLICY}; frame-ancestors 'none'`, 'Referrer-Policy': 'no-referrer' };
  private chats = 0;
  private messagesInChat = 0;
  private names = new Map<string, string>();

  /** `mediaOrigin`: `scheme://host[:port]` the export was requested through, for absolute media links; null keeps them relative. */
  constructor(private readonly mediaOrigin: string | null) {}

  begin(exportedAt: Date, user: ExportPersonDto): string {
    const who = `${displayName(user)} (@${user.nickname})`;
    return (
      `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">` +
      `<meta http-equiv="Content-Security-Policy" content="${escapeHtml(PAGE_POLICY)}"><meta name="referrer" content="no-referrer">` +
      `<meta name="viewport" content="width=device-width, initial-scale=1"><title>H2V export: ${escapeHtml(who)}</title>` +
      `<style>${STYLE}</style></head><body>\n` +
      `<header><h1>H2V export</h1><p class="meta">${escapeHtml(who)} · exported <time datetime="${exportedAt.toISOString()}">${readableTime(exportedAt.toISOString())}</time></p></header>\n`
    );
  }

  beginChat(chat: ExportChatHead): string {
    this.chats++;
    this.messagesInChat = 0;
    this.names = new Map(chat.members.map((m) => [m.id, displayName(m)]));
    const members = chat.members.map((m) => `${displayName(m)} (@${m.nickname})`).join(', ');
    return (
      `<section class="chat" id="chat-${escapeHtml(chat.id)}"><h2>${escapeHtml(chat.name ?? 'Chat')}</h2>` +
      `<p class="meta">${escapeHtml(TYPE_LABELS[chat.type] ?? chat.type)} · members: ${escapeHtml(members)}</p>\n<ol>\n`
    );
  }

  messages(page: ExportMessageDto[]): string {
    this.messagesInChat += page.length;
    return page.map((m) => this.message(m)).join('');
  }

  endChat(): string {
    return `</ol>${this.messagesInChat ? '' : '<p class="empty">No messages</p>'}</section>\n`;
  }

  end(): string {
    return `<footer><p class="meta">${this.chats} chat${this.chats === 1 ? '' : 's'}</p></footer>\n</body></html>\n`;
  }

  private message(m: ExportMessageDto): string {
    const sender = m.senderName ?? 'Deleted account';
    const head =
      `<div class="head"><span class="sender">${escapeHtml(sender)}</span> · <time datetime="${escapeHtml(m.createdAt)}">${escapeHtml(readableTime(m.createdAt))}</time>` +
      `${m.isEdited ? ' · edited' : ''}</div>`;
    if (m.type === 'SYSTEM') return `<li id="m-${escapeHtml(m.id)}" class="system">${head}<div class="text">${escapeHtml(this.systemLine(sender, m.text ?? ''))}</div></li>\n`;
    const forwarded = m.forwardSenderName !== null ? `<div class="fwd">Forwarded from ${escapeHtml(m.forwardSenderName)}</div>` : '';
    const text = m.text !== null && m.text !== '' ? `<div class="text">${escapeHtml(m.text)}</div>` : '';
    return `<li id="m-${escapeHtml(m.id)}">${head}${forwarded}${text}${this.media(m)}</li>\n`;
  }

  private media(m: ExportMessageDto): string {
    if (m.mediaUrl === null) return '';
    const label = `${MEDIA_LABELS[m.type] ?? 'File'}: ${m.mediaName ?? m.mediaUrl.split('/').pop() ?? ''}`;
    const href = this.href(m.mediaUrl);
    if (href === null) return `<div class="media">${escapeHtml(label)}</div>`;
    return `<div class="media"><a href="${escapeHtml(href)}" rel="noopener noreferrer" target="_blank">${escapeHtml(label)}</a></div>`;
  }

  /** The link a media URL may become, or null when it is neither an upload path nor an http(s) URL. */
  private href(url: string): string | null {
    if (UPLOAD_PATH.test(url) && !url.includes('..')) return (this.mediaOrigin ?? '') + url;
    try {
      const parsed = new URL(url);
      return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : null;
    } catch {
      return null;
    }
  }

  /** The client's own rendering of SYSTEM texts (wire-contract-v2.2 §1.4); other texts as they are. */
  private systemLine(sender: string, text: string): string {
    const name = (id: string) => this.names.get(id) ?? id;
    if (text === 'member_left') return `${sender} left the group`;
    const kicked = /^member_kicked:(.+)$/.exec(text);
    if (kicked) return `${name(kicked[1])} was removed`;
    const role = /^role_changed:([^:]+):(ADMIN|MEMBER)$/.exec(text);
    if (role) return `${name(role[1])} → ${role[2] === 'ADMIN' ? 'Admin' : 'Member'}`;
    return text;
  }
}

export function exportWriter(format: ExportFormat, mediaOrigin: string | null): ExportWriter {
  return format === 'html' ? new HtmlExportWriter(mediaOrigin) : new JsonExportWriter();
}

const TYPE_LABELS: Record<string, string> = { DIRECT: 'Direct chat', GROUP: 'Group', SELF: 'Saved messages' };
const MEDIA_LABELS: Record<string, string> = { IMAGE: 'Photo', VIDEO: 'Video', AUDIO: 'Voice message', FILE: 'File' };

/** `2026-11-25 14:05 UTC` from an ISO instant. */
function readableTime(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}
