import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as fixtures from '../../test/support/media-fixtures';
import { sniffFile, webmTrackKinds } from './file-sniffer';

describe('sniffFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'h2v-sniff-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const sniff = async (bytes: Buffer, clientName = 'upload.bin') => {
    const path = join(dir, `f${n++}`);
    writeFileSync(path, bytes);
    return sniffFile(path, clientName);
  };

  it.each([
    ['jpeg', () => fixtures.image('jpeg'), 'jpg', 'IMAGE'],
    ['png', () => fixtures.image('png'), 'png', 'IMAGE'],
    ['gif', () => fixtures.animatedGif(), 'gif', 'IMAGE'],
    ['webp', () => fixtures.image('webp'), 'webp', 'IMAGE'],
    ['mp4', async () => fixtures.mp4(), 'mp4', 'VIDEO'],
    ['webm with video', async () => fixtures.webm([1, 2]), 'webm', 'VIDEO'],
    ['webm with audio only', async () => fixtures.webm([2]), 'weba', 'AUDIO'],
    ['mp3', async () => fixtures.mp3(), 'mp3', 'AUDIO'],
    ['ogg', async () => fixtures.ogg(), 'ogg', 'AUDIO'],
    ['pdf', async () => fixtures.pdf(), 'pdf', 'FILE'],
    ['txt', async () => fixtures.text(), 'txt', 'FILE'],
    ['zip', async () => fixtures.zip({ 'a.txt': 'hello' }), 'zip', 'FILE'],
    ['docx', async () => fixtures.docx(), 'docx', 'FILE'],
    ['doc', async () => fixtures.compoundFile('WordDocument'), 'doc', 'FILE'],
  ])('types %s by its bytes', async (_name, make, ext, kind) => {
    expect(await sniff(await make())).toMatchObject({ ext, kind });
  });

  it('ignores the client name when the bytes say otherwise', async () => {
    expect(await sniff(await fixtures.image('png'), 'report.pdf')).toMatchObject({ ext: 'png', kind: 'IMAGE' });
  });

  it('refuses executables, other compound files, invalid UTF-8 and text posing as an image', async () => {
    expect(await sniff(fixtures.elf(), 'cat.jpg')).toBeNull();
    expect(await sniff(Buffer.concat([Buffer.from('MZ'), Buffer.alloc(200)]), 'setup.doc')).toBeNull();
    expect(await sniff(fixtures.compoundFile('Workbook'), 'sheet.doc')).toBeNull();
    expect(await sniff(Buffer.from([0x68, 0x69, 0xff, 0xfe, 0x00]), 'notes.txt')).toBeNull();
    expect(await sniff(Buffer.from('abc\u0000def'), 'notes.txt')).toBeNull();
    expect(await sniff(Buffer.from('#!/bin/sh\nrm -rf /\n'), 'cat.jpg')).toBeNull();
  });

  it('keeps markup that is not one of the binary types as plain text (served as text/plain, attachment)', async () => {
    expect(await sniff(Buffer.from('<html><script>alert(1)</script></html>'), 'page.html')).toMatchObject({ ext: 'txt', kind: 'FILE' });
  });

  it('reads the track types of a WebM', () => {
    expect([...webmTrackKinds(fixtures.webm([1, 2]))!]).toEqual([1, 2]);
    expect([...webmTrackKinds(fixtures.webm([2]))!]).toEqual([2]);
    expect(webmTrackKinds(Buffer.from('not ebml'))).toBeNull();
  });
});
