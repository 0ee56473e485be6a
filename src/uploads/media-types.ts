/** What a client does with an upload: the message type it becomes. */
export type UploadKind = 'IMAGE' | 'VIDEO' | 'AUDIO' | 'FILE';
export const UPLOAD_KINDS: readonly UploadKind[] = ['IMAGE', 'VIDEO', 'AUDIO', 'FILE'];

export interface MediaType {
  /** Extension of the stored file name; it alone decides the Content-Type the file is served with. */
  ext: string;
  mime: string;
  kind: UploadKind;
}

/**
 * Every type the server keeps, by the extension it stores it under. The extension always comes
 * from the sniffed bytes, never from the client's name, so serving by extension is serving by
 * content. `weba` is an audio-only WebM (the web client's voice messages). `enc` is the one
 * extension no sniffing gives: a secret chat's encrypted blob, stored as sent and only ever
 * downloaded as opaque bytes (an attachment, as every FILE is).
 */
export const MEDIA_TYPES: Readonly<Record<string, MediaType>> = Object.fromEntries(
  (
    [
      ['jpg', 'image/jpeg', 'IMAGE'],
      ['png', 'image/png', 'IMAGE'],
      ['gif', 'image/gif', 'IMAGE'],
      ['webp', 'image/webp', 'IMAGE'],
      ['mp4', 'video/mp4', 'VIDEO'],
      ['webm', 'video/webm', 'VIDEO'],
      ['ogv', 'video/ogg', 'VIDEO'],
      ['weba', 'audio/webm', 'AUDIO'],
      ['mp3', 'audio/mpeg', 'AUDIO'],
      ['ogg', 'audio/ogg', 'AUDIO'],
      ['m4a', 'audio/mp4', 'AUDIO'],
      ['pdf', 'application/pdf', 'FILE'],
      ['txt', 'text/plain; charset=utf-8', 'FILE'],
      ['zip', 'application/zip', 'FILE'],
      ['doc', 'application/msword', 'FILE'],
      ['docx', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'FILE'],
      ['enc', 'application/octet-stream', 'FILE'],
    ] as const
  ).map(([ext, mime, kind]) => [ext, { ext, mime, kind }]),
);

export const isImageExt = (ext: string): boolean => MEDIA_TYPES[ext]?.kind === 'IMAGE';

/** Variants (optimised original, medium, thumbnail) and avatars are always WebP. */
export const VARIANT_MIME = 'image/webp';
