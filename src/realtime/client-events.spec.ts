import { encodeFrame, withLastKey } from './client-events';

describe('withLastKey', () => {
  it('gives the frame of the payload with one more key at its end, byte for byte as serialising it would', () => {
    const payload = { id: 'm1', text: 'héllo "quoted" \\ 😀', seq: 3, sender: { id: 'u1', nickname: 'ann' }, reactions: [] };
    const frame = encodeFrame('message:new', payload as never);
    const extended = withLastKey(frame, 'clientMessageId', 'c-1 "x"');
    expect(extended.equals(encodeFrame('message:new', { ...payload, clientMessageId: 'c-1 "x"' } as never))).toBe(true);
    // The frame it was made from is left as it was.
    expect(JSON.parse(frame.toString()).payload).toEqual(payload);
  });

  it('adds the first key of an empty payload without a comma', () => {
    const extended = withLastKey(encodeFrame('message:new', {} as never), 'n', 1);
    expect(JSON.parse(extended.toString())).toEqual({ event: 'message:new', payload: { n: 1 } });
  });
});
