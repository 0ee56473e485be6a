import { ExportChatHead, ExportMessageDto } from './dto/export.dto';
import { ExportWriter, HtmlExportWriter, JsonExportWriter } from './export-writers';

const USER = { id: 'u1', nickname: 'alice', firstName: 'Alice', lastName: null };
const CHAT: ExportChatHead = { id: 'c1', type: 'GROUP', name: 'Team', members: [USER, { id: 'u2', nickname: 'bob', firstName: null, lastName: null }] };

function message(n: number, extra: Partial<ExportMessageDto> = {}): ExportMessageDto {
  return {
    id: `m${n}`,
    senderId: 'u1',
    senderName: 'Alice',
    type: 'TEXT',
    text: `text ${n}`,
    mediaUrl: null,
    mediaName: null,
    forwardSenderName: null,
    createdAt: '2026-11-25T14:05:24.123Z',
    isEdited: false,
    ...extra,
  };
}

/** Runs a writer over chats given as pages of messages. */
function write(writer: ExportWriter, chats: Array<{ chat: ExportChatHead; pages: ExportMessageDto[][] }>): string {
  let out = writer.begin(new Date('2026-11-25T15:00:00.000Z'), USER);
  for (const { chat, pages } of chats) {
    out += writer.beginChat(chat);
    for (const page of pages) out += writer.messages(page);
    out += writer.endChat();
  }
  return out + writer.end();
}

describe('JsonExportWriter', () => {
  it('joins chats and pages of messages into one valid JSON document of the §14 shape', () => {
    const text = write(new JsonExportWriter(), [
      { chat: CHAT, pages: [[message(1), message(2)], [], [message(3)]] },
      { chat: { ...CHAT, id: 'c2' }, pages: [] },
      { chat: { ...CHAT, id: 'c3' }, pages: [[message(4, { text: 'quote " backslash \\ </script> \u2028' })]] },
    ]);
    expect(JSON.parse(text)).toEqual({
      exportedAt: '2026-11-25T15:00:00.000Z',
      user: USER,
      chats: [
        { ...CHAT, messages: [message(1), message(2), message(3)] },
        { ...CHAT, id: 'c2', messages: [] },
        { ...CHAT, id: 'c3', messages: [message(4, { text: 'quote " backslash \\ </script> \u2028' })] },
      ],
    });
  });

  it('is valid with no chat at all', () => {
    expect(JSON.parse(write(new JsonExportWriter(), []))).toEqual({ exportedAt: '2026-11-25T15:00:00.000Z', user: USER, chats: [] });
  });
});

describe('HtmlExportWriter', () => {
  const hrefs = (html: string) => [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]);

  it('links uploads on the origin it was given, and http(s) URLs as they are, and never any other scheme', () => {
    const html = write(new HtmlExportWriter('https://chat.example'), [
      {
        chat: CHAT,
        pages: [
          [
            message(1, { type: 'IMAGE', mediaUrl: '/uploads/abc.webp', mediaName: 'a.webp' }),
            message(2, { type: 'FILE', mediaUrl: 'https://cdn.example/x?a=1&b="2"', mediaName: 'x.pdf' }),
            message(3, { type: 'FILE', mediaUrl: 'javascript:alert(1)', mediaName: 'js' }),
            message(4, { type: 'FILE', mediaUrl: 'data:text/html,<script>alert(1)</script>', mediaName: 'data' }),
            message(5, { type: 'FILE', mediaUrl: '//evil.example/x', mediaName: 'protocol-relative' }),
            message(6, { type: 'FILE', mediaUrl: '/uploads/../api/users/me', mediaName: 'dots' }),
          ],
        ],
      },
    ]);
    expect(hrefs(html)).toEqual(['https://chat.example/uploads/abc.webp', 'https://cdn.example/x?a=1&amp;b=%222%22']);
    expect(html).toContain('File: js</div>');
    expect(html).not.toContain('<script');
  });

  it('keeps upload links relative when the origin is unknown', () => {
    const html = write(new HtmlExportWriter(null), [{ chat: CHAT, pages: [[message(1, { type: 'VIDEO', mediaUrl: '/uploads/v.mp4', mediaName: null })]] }]);
    expect(hrefs(html)).toEqual(['/uploads/v.mp4']);
    expect(html).toContain('>Video: v.mp4</a>');
  });

  it('escapes names, texts and ids in text and in attributes', () => {
    const evil = `"'><script>alert(1)</script>&`;
    const html = write(new HtmlExportWriter(null), [
      {
        chat: { id: evil, type: 'GROUP', name: evil, members: [{ id: 'u3', nickname: 'eve', firstName: evil, lastName: null }] },
        pages: [[message(1, { id: evil, senderName: evil, text: evil, forwardSenderName: evil, createdAt: evil, mediaUrl: '/uploads/a.png', mediaName: evil, type: 'IMAGE' })]],
      },
    ]);
    const escaped = '&quot;&#39;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;';
    expect(html).not.toContain('<script');
    expect(html).not.toContain(`"'>`);
    expect(html).toContain(`id="chat-${escaped}"`);
    expect(html).toContain(`<h2>${escaped}</h2>`);
    expect(html).toContain(`<div class="text">${escaped}</div>`);
    expect(html).toContain(`Forwarded from ${escaped}`);
    expect(html).toContain(`Photo: ${escaped}</a>`);
  });

  it('reads SYSTEM messages as the client does, with member names from the chat', () => {
    const html = write(new HtmlExportWriter(null), [
      {
        chat: CHAT,
        pages: [
          [
            message(1, { type: 'SYSTEM', text: 'member_left', senderName: 'Alice' }),
            message(2, { type: 'SYSTEM', text: 'role_changed:u2:ADMIN' }),
            message(3, { type: 'SYSTEM', text: 'member_kicked:gone-user' }),
          ],
        ],
      },
    ]);
    expect(html).toContain('Alice left the group');
    expect(html).toContain('bob → Admin');
    expect(html).toContain('gone-user was removed');
  });

  it('says when a chat has no messages and counts the chats', () => {
    const html = write(new HtmlExportWriter(null), [{ chat: CHAT, pages: [] }]);
    expect(html).toContain('<p class="empty">No messages</p>');
    expect(html).toContain('1 chat</p>');
  });
});
