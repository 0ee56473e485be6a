import { FieldErrors } from '../core/http/validation';

/** The privacy levels the web client sends; the API's booleans mean `all` (true) and `nobody` (false). */
export const PRIVACY_LEVELS = ['all', 'contacts', 'nobody'] as const;
export type PrivacyLevel = (typeof PRIVACY_LEVELS)[number];

/** The settings that hold a privacy level (contract v2.2 §15). */
export const PRIVACY_KEYS = ['showOnlineStatus', 'showReadReceipts', 'showAvatar', 'allowGroupInvites'] as const;
export type PrivacyKey = (typeof PRIVACY_KEYS)[number];

export const AUTO_DELETE_MONTHS = ['1', '3', '6', '12', 'never'] as const;

export interface KnownSettings {
  notifSound: boolean;
  notifDesktop: boolean;
  sendByEnter: boolean;
  fontSize: 'small' | 'medium' | 'large';
  showOnlineStatus: PrivacyLevel;
  showReadReceipts: PrivacyLevel;
  showAvatar: PrivacyLevel;
  allowGroupInvites: PrivacyLevel;
  mediaAutoDownload: boolean;
  chatWallpaper: 'default' | 'dark' | 'dots' | 'gradient';
  theme: 'dark' | 'light';
  /** null until the user picks a language. */
  locale: 'en' | 'ru' | null;
  autoDeleteMonths: (typeof AUTO_DELETE_MONTHS)[number];
  /** An index into the web client's list of playback speeds. */
  voiceSpeed: 0 | 1 | 2;
}

/** Client-defined keys stored beside the known ones (the web client keeps its own preferences here). */
export type ExtraSettingValue = string | number | boolean | null;
export type UserSettings = KnownSettings & Record<string, ExtraSettingValue>;

export const DEFAULT_SETTINGS: Readonly<KnownSettings> = Object.freeze({
  notifSound: true,
  notifDesktop: true,
  sendByEnter: true,
  fontSize: 'medium',
  showOnlineStatus: 'all',
  showReadReceipts: 'all',
  showAvatar: 'all',
  allowGroupInvites: 'all',
  mediaAutoDownload: true,
  chatWallpaper: 'default',
  theme: 'dark',
  locale: null,
  autoDeleteMonths: 'never',
  voiceSpeed: 0,
});

type Check = (value: unknown) => string | null;
const isBoolean: Check = (v) => (typeof v === 'boolean' ? null : 'must be a boolean');
const oneOf =
  (...values: string[]): Check =>
  (v) =>
    typeof v === 'string' && values.includes(v) ? null : `must be one of: ${values.join(', ')}`;
const orNull =
  (check: Check): Check =>
  (v) => {
    if (v === null) return null;
    const problem = check(v);
    return problem && `${problem}, or null`;
  };
const isPrivacy: Check = (v) =>
  typeof v === 'boolean' || (typeof v === 'string' && (PRIVACY_LEVELS as readonly string[]).includes(v)) ? null : `must be a boolean or one of: ${PRIVACY_LEVELS.join(', ')}`;
const isVoiceSpeed: Check = (v) => (v === 0 || v === 1 || v === 2 ? null : 'must be 0, 1 or 2');

const KNOWN: Record<keyof KnownSettings, Check> = {
  notifSound: isBoolean,
  notifDesktop: isBoolean,
  sendByEnter: isBoolean,
  fontSize: oneOf('small', 'medium', 'large'),
  showOnlineStatus: isPrivacy,
  showReadReceipts: isPrivacy,
  showAvatar: isPrivacy,
  allowGroupInvites: isPrivacy,
  mediaAutoDownload: isBoolean,
  chatWallpaper: oneOf('default', 'dark', 'dots', 'gradient'),
  theme: oneOf('dark', 'light'),
  locale: orNull(oneOf('en', 'ru')),
  autoDeleteMonths: oneOf(...AUTO_DELETE_MONTHS),
  voiceSpeed: isVoiceSpeed,
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
  // Keyed by the client's field names: `errors.__proto__ = …` on a plain object would set its
  // prototype instead, and a patch carrying that key would pass with no error at all.
  const errors: FieldErrors = Object.create(null) as FieldErrors;
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

/** A privacy value as stored or sent (the API's booleans or a level) as its level: true is `all`, false is `nobody`. */
export function privacyLevel(value: unknown): PrivacyLevel {
  if (value === false || value === 'nobody') return 'nobody';
  if (value === 'contacts') return 'contacts';
  return 'all';
}

/**
 * A validated patch as it is stored: privacy booleans become their levels, so the document
 * (and every statement reading it) holds one spelling. Documents stored before keep their
 * booleans, which privacyAllows and withDefaults read the same way.
 */
export function normalizedPatch(patch: Record<string, unknown>): Record<string, unknown> {
  const normal = { ...patch };
  for (const key of PRIVACY_KEYS) if (key in normal) normal[key] = privacyLevel(normal[key]);
  return normal;
}

/** The stored document over the defaults: every known field is present, privacy fields as levels (the web client reads strings). */
export function withDefaults(stored: Record<string, unknown>): UserSettings {
  const settings = { ...DEFAULT_SETTINGS, ...stored } as Record<string, unknown>;
  for (const key of PRIVACY_KEYS) settings[key] = privacyLevel(settings[key]);
  return settings as UserSettings;
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
