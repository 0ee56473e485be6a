import type { FileTypeResult } from 'file-type';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { extname } from 'node:path';
import { MEDIA_TYPES, MediaType } from './media-types';

type FileTypeModule = typeof import('file-type');

/**
 * file-type is ESM-only. Its `./node` entry is the one subpath whose export conditions both
 * Node's require(esm) and jest's resolver accept; it is loaded once, on first use.
 */
const FILE_TYPE_ENTRY = 'file-type/node';
let fileTypeModule: Promise<FileTypeModule> | undefined;
const loadFileType = (): Promise<FileTypeModule> => (fileTypeModule ??= import(FILE_TYPE_ENTRY) as Promise<FileTypeModule>);

/** How far into a WebM its Tracks element is looked for (recorders write it in the first few hundred bytes). */
const WEBM_HEAD_BYTES = 64 * 1024;

/** Extensions a client name may carry that promise binary content: plain text behind one is refused. */
const BINARY_EXTENSIONS = new Set(['jpg', 'jpeg', 'png', 'gif', 'webp', 'mp4', 'm4v', 'm4a', 'webm', 'weba', 'mp3', 'ogg', 'oga', 'ogv', 'opus', 'pdf', 'zip', 'doc', 'docx']);

/**
 * Decides the type of an uploaded file from its bytes alone: magic numbers through `file-type`,
 * then a strict text check for TXT. Returns null for anything the server does not keep. The
 * client's name matters in one case only: text behind a binary extension (a script posing as
 * `photo.jpg`) is refused instead of being kept as TXT.
 */
export async function sniffFile(path: string, clientName: string): Promise<MediaType | null> {
  const { fileTypeFromFile } = await loadFileType();
  const detected = await fileTypeFromFile(path);
  if (detected) return fromMagic(detected, path);
  const claimed = extname(clientName).slice(1).toLowerCase();
  if (BINARY_EXTENSIONS.has(claimed)) return null;
  return (await isUtf8Text(path)) ? MEDIA_TYPES.txt : null;
}

async function fromMagic(detected: FileTypeResult, path: string): Promise<MediaType | null> {
  switch (detected.ext) {
    case 'jpg':
    case 'png':
    case 'gif':
    case 'webp':
    case 'mp4':
    case 'mp3':
    case 'ogv':
    case 'm4a':
    case 'pdf':
    case 'zip':
    case 'docx':
      return MEDIA_TYPES[detected.ext];
    case 'apng':
      return MEDIA_TYPES.png;
    case 'm4v':
      return MEDIA_TYPES.mp4;
    case 'ogg':
    case 'oga':
    case 'opus':
    case 'spx':
      return MEDIA_TYPES.ogg;
    case 'webm':
      return (await webmTracks(path)) === 'audio-only' ? MEDIA_TYPES.weba : MEDIA_TYPES.webm;
    case 'cfb':
      return (await isWordDocument(path)) ? MEDIA_TYPES.doc : null;
    default:
      return null;
  }
}

/** Valid UTF-8 from end to end, no NUL byte, not empty. Streams the file: never all of it in memory. */
async function isUtf8Text(path: string): Promise<boolean> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let bytes = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 64 * 1024 }) as AsyncIterable<Buffer>) {
      if (chunk.includes(0)) return false;
      decoder.decode(chunk, { stream: true });
      bytes += chunk.length;
    }
    decoder.decode();
  } catch {
    return false;
  }
  return bytes > 0;
}

async function readHead(path: string, length: number, position = 0): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, position);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

// ---- WebM: audio-only or not -------------------------------------------------------------

const EBML_HEADER = 0x1a45dfa3;
const SEGMENT = 0x18538067;
const TRACKS = 0x1654ae6b;
const TRACK_ENTRY = 0xae;
const TRACK_TYPE = 0x83;
const CLUSTER = 0x1f43b675;
const VIDEO_TRACK = 1;
const AUDIO_TRACK = 2;

interface EbmlElement {
  id: number;
  /** Payload size; Infinity for the "unknown size" recorders write while streaming. */
  size: number;
  dataStart: number;
}

function readVint(buf: Buffer, pos: number, keepMarker: boolean): { value: number; length: number; allOnes: boolean } | null {
  const first = buf[pos];
  if (first === undefined || first === 0) return null;
  const length = Math.clz32(first) - 23;
  if (pos + length > buf.length) return null;
  const mask = 0xff >> length;
  let value = keepMarker ? first : first & mask;
  let allOnes = (first & mask) === mask;
  for (let i = 1; i < length; i++) {
    value = value * 256 + buf[pos + i];
    allOnes &&= buf[pos + i] === 0xff;
  }
  return { value, length, allOnes };
}

function readElement(buf: Buffer, pos: number): EbmlElement | null {
  const id = readVint(buf, pos, true);
  if (!id) return null;
  const size = readVint(buf, pos + id.length, false);
  if (!size) return null;
  return { id: id.value, size: size.allOnes ? Infinity : size.value, dataStart: pos + id.length + size.length };
}

/** Walks EBML header → Segment → Tracks → TrackEntry → TrackType in the file's first bytes. */
export function webmTrackKinds(buf: Buffer): Set<number> | null {
  const header = readElement(buf, 0);
  if (!header || header.id !== EBML_HEADER || header.size === Infinity) return null;
  const segment = readElement(buf, header.dataStart + header.size);
  if (!segment || segment.id !== SEGMENT) return null;
  const segmentEnd = Math.min(buf.length, segment.dataStart + segment.size);
  for (let pos = segment.dataStart; pos < segmentEnd; ) {
    const element = readElement(buf, pos);
    if (!element || element.id === CLUSTER || element.size === Infinity) return null;
    if (element.id === TRACKS) return trackTypes(buf, element.dataStart, Math.min(buf.length, element.dataStart + element.size));
    pos = element.dataStart + element.size;
  }
  return null;
}

function trackTypes(buf: Buffer, start: number, end: number): Set<number> {
  const kinds = new Set<number>();
  for (let pos = start; pos < end; ) {
    const entry = readElement(buf, pos);
    if (!entry || entry.size === Infinity) break;
    if (entry.id === TRACK_ENTRY) {
      const entryEnd = Math.min(end, entry.dataStart + entry.size);
      for (let p = entry.dataStart; p < entryEnd; ) {
        const child = readElement(buf, p);
        if (!child || child.size === Infinity) break;
        if (child.id === TRACK_TYPE && child.size >= 1) kinds.add(buf[child.dataStart + child.size - 1]);
        p = child.dataStart + child.size;
      }
    }
    pos = entry.dataStart + entry.size;
  }
  return kinds;
}

async function webmTracks(path: string): Promise<'audio-only' | 'video'> {
  const kinds = webmTrackKinds(await readHead(path, WEBM_HEAD_BYTES));
  return kinds?.has(AUDIO_TRACK) && !kinds.has(VIDEO_TRACK) ? 'audio-only' : 'video';
}

// ---- CFB (OLE2): a Word 97-2003 document or something else --------------------------------

const END_OF_CHAIN = 0xfffffffe;
/** Sector numbers above this are markers (end of chain, free, FAT sector, …). */
const MAX_REGULAR_SECTOR = 0xfffffff9;
const MAX_DIRECTORY_SECTORS = 256;
const DIFAT_IN_HEADER = 109;

/**
 * A compound file is also the container of .xls, .ppt and .msi installers; only one with a
 * `WordDocument` stream in its directory is a DOC. Follows the directory's sector chain
 * through the FAT sectors listed in the header (enough for any document under 20 MB).
 */
export async function isWordDocument(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const read = async (position: number, length: number): Promise<Buffer> => {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, position);
      return buffer.subarray(0, bytesRead);
    };
    const header = await read(0, 512);
    if (header.length < 512) return false;
    const shift = header.readUInt16LE(0x1e);
    if (shift !== 9 && shift !== 12) return false;
    const sectorSize = 1 << shift;
    const entriesPerFatSector = sectorSize / 4;
    const sectorOffset = (sector: number) => (sector + 1) * sectorSize;
    const fatSectors: Array<Buffer | undefined> = [];
    const next = async (sector: number): Promise<number> => {
      const index = Math.floor(sector / entriesPerFatSector);
      if (index >= DIFAT_IN_HEADER) return END_OF_CHAIN;
      fatSectors[index] ??= await read(sectorOffset(header.readUInt32LE(0x4c + index * 4)), sectorSize);
      const fat = fatSectors[index]!;
      const at = (sector % entriesPerFatSector) * 4;
      return at + 4 <= fat.length ? fat.readUInt32LE(at) : END_OF_CHAIN;
    };
    let sector = header.readUInt32LE(0x30);
    for (let visited = 0; sector <= MAX_REGULAR_SECTOR && visited < MAX_DIRECTORY_SECTORS; visited++) {
      const directory = await read(sectorOffset(sector), sectorSize);
      for (let at = 0; at + 128 <= directory.length; at += 128) {
        const nameBytes = directory.readUInt16LE(at + 0x40);
        const type = directory[at + 0x42];
        if (type !== 2 || nameBytes < 2 || nameBytes > 64) continue;
        if (directory.toString('utf16le', at, at + nameBytes - 2) === 'WordDocument') return true;
      }
      sector = await next(sector);
    }
    return false;
  } finally {
    await handle.close();
  }
}
