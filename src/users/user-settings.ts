import { FieldErrors } from '../core/http/validation';

/** The privacy levels the web client sends; the API's booleans mean `all` (true) and `nobody` (false). */
export const PRIVACY_LEVELS = ['all', 'contacts', 'nobody'] as const;
export type PrivacyLevel = (typeof PRIVACY_LEVELS)[number];
export type PrivacySetting = boolean | PrivacyLevel;

export interface KnownSettings {
  notifSound: boolean;
  notifDesktop: boolean;
  sendByEnter: boolean;
  fontSize: 'small' | 'medium' | 'large';
  showOnlineStatus: PrivacySetting;
  showReadReceipts: PrivacySetting;
  mediaAutoDownload: boolean;
  chatWallpaper: 'default' | 'dark' | 'dots' | 'gradient';
  locale: 'en' | 'ru';
}

/** Client-defined keys stored beside the known ones (the web client keeps its own preferences here). */
export type ExtraSettingValue = string | number | boolean | null;
export type UserSettings = KnownSettings & Record<string, ExtraSettingValue>;

export const DEFAULT_SETTINGS: Readonly<KnownSettings> = Object.freeze({
  notifSound: true,
  notifDesktop: true,
  sendByEnter: true,
  fontSize: 'medium',
  showOnlineStatus: true,
  showReadReceipts: true,
  mediaAutoDownload: true,
  chatWallpaper: 'default',
  locale: 'en',
});

type Check = (value: unknown) => string | null;
const isBoolean: Check = (v) => (typeof v === 'boolean' ? null : 'must be a boolean');
const oneOf =
  (...values: string[]): Check =>
  (v) =>
    typeof v === 'string' && values.includes(v) ? null : `must be one of: ${values.join(', ')}`;
const isPrivacy: Check = (v) =>
  typeof v === 'boolean' || (typeof v === 'string' && (PRIVACY_LEVELS as readonly string[]).includes(v)) ? null : `must be a boolean or one of: ${PRIVACY_LEVELS.join(', ')}`;

const KNOWN: Record<keyof KnownSettings, Check> = {
  notifSound: isBoolean,
  notifDesktop: isBoolean,
  sendByEnter: isBoolean,
  fontSize: oneOf('small', 'medium', 'large'),
  showOnlineStatus: isPrivacy,
  showReadReceipts: isPrivacy,
  mediaAutoDownload: isBoolean,
  chatWallpaper: oneOf('default', 'dark', 'dots', 'gradient'),
  locale: oneOf('en', 'ru'),
};

export const MAX_EXTRA_KEYS = 64;
const EXTRA_KEY = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_EXTRA_STRING = 256;

const isKnown = (key: string): key is keyof KnownSettings => Object.prototype.hasOwnProperty.call(KNOWN, key);

/**
 * Checks a partial settings update: known fields by type and allowed values; any other key only
 * with a safe name and a primitive value, so the document stays small and flat.
 */
export function validateSettingsPatch(patch: unknown): FieldErrors {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return { settings: ['settings must be an object'] };
  const errors: FieldErrors = {};
  for (const [key, value] of Object.entries(patch)) {
    if (isKnown(key)) {
      const problem = KNOWN[key](value);
      if (problem) errors[key] = [`${key} ${problem}`];
      continue;
    }
    const label = key.slice(0, 64) || '(empty)';
    if (!EXTRA_KEY.test(key) || key === '__proto__') errors[label] = ['unknown setting: names are at most 64 characters of letters, digits, _ . -'];
    else if (!isExtraValue(value)) errors[label] = [`${key} must be a string of at most ${MAX_EXTRA_STRING} characters, a number, a boolean or null`];
  }
  return errors;
}

function isExtraValue(value: unknown): value is ExtraSettingValue {
  if (value === null || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  return typeof value === 'string' && value.length <= MAX_EXTRA_STRING;
}

/** How many client-defined keys a stored document holds. */
export function extraKeyCount(settings: Record<string, unknown>): number {
  return Object.keys(settings).filter((key) => !isKnown(key)).length;
}

/** The stored document over the defaults: every known field is present. */
export function withDefaults(stored: Record<string, unknown>): UserSettings {
  return { ...DEFAULT_SETTINGS, ...stored } as UserSettings;
}

/**
 * Whether a privacy setting shows something to a viewer: `true`/`all` to everyone,
 * `contacts` to users the owner has added, `false`/`nobody` to no one.
 */
export function privacyAllows(setting: unknown, viewerIsContact: boolean): boolean {
  if (setting === false || setting === 'nobody') return false;
  if (setting === 'contacts') return viewerIsContact;
  return true;
}
