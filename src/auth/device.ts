import { UAParser } from 'ua-parser-js';

/** A short human name for the device behind a User-Agent: "Chrome 120 on Windows 10", "iPhone (iOS 17.2)". */
export function deviceName(userAgent: string | undefined): string {
  if (!userAgent) return 'Unknown device';
  const { browser, os, device } = new UAParser(userAgent).getResult();
  const system = [os.name, os.version].filter(Boolean).join(' ');
  const app = [browser.name, browser.major].filter(Boolean).join(' ');
  const hardware = [device.vendor, device.model].filter(Boolean).join(' ');
  if (app && system) return `${app} on ${system}`;
  if (hardware) return system ? `${hardware} (${system})` : hardware;
  if (app || system) return app || system;
  return userAgent.slice(0, 64);
}

/**
 * A location string when a trusted proxy supplies one (CDN country headers); else null.
 * No GeoIP database ships with the server, so a bare IP yields no location.
 */
export function locationFrom(headers: Record<string, string | string[] | undefined>, trustProxy: boolean): string | null {
  if (!trustProxy) return null;
  const country = headers['cf-ipcountry'] ?? headers['x-country-code'] ?? headers['cloudfront-viewer-country'];
  const value = Array.isArray(country) ? country[0] : country;
  return value && /^[A-Z]{2}$/i.test(value) && value.toUpperCase() !== 'XX' ? value.toUpperCase() : null;
}
