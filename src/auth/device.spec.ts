import { deviceName, locationFrom } from './device';

describe('deviceName', () => {
  it('names a desktop browser', () => {
    expect(deviceName('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36')).toBe('Chrome 120 on Windows 10');
  });
  it('names a phone browser', () => {
    expect(deviceName('Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1')).toBe('Mobile Safari 17 on iOS 17.2');
  });
  it('falls back for missing or unknown agents', () => {
    expect(deviceName(undefined)).toBe('Unknown device');
    expect(deviceName('curl/8.0')).toBe('curl/8.0');
  });
});

describe('locationFrom', () => {
  it('reads a CDN country only behind a trusted proxy', () => {
    expect(locationFrom({ 'cf-ipcountry': 'de' }, true)).toBe('DE');
    expect(locationFrom({ 'cf-ipcountry': 'de' }, false)).toBeNull();
    expect(locationFrom({}, true)).toBeNull();
  });
});
