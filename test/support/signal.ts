import { KeyHelper, SessionBuilder, SessionCipher, SignalProtocolAddress } from '@privacyresearch/libsignal-protocol-typescript';
import { InMemorySignalStore } from './signal-store';

/** Every H2V user is one Signal device. */
const DEVICE_ID = 1;

/** Signal message types as the `signalType` field carries them. */
export const SIGNAL_WHISPER = 1;
export const SIGNAL_PREKEY_WHISPER = 3;

export interface WirePreKey {
  keyId: number;
  publicKey: string;
}

/** `POST /api/keys/bundle` body. */
export interface WireBundleUpload {
  registrationId: number;
  identityKey: string;
  signedPreKeyId: number;
  signedPreKey: string;
  signedPreKeySig: string;
  oneTimePreKeys: WirePreKey[];
}

/** `GET /api/keys/bundle/:userId` data. */
export interface WireBundle extends Omit<WireBundleUpload, 'oneTimePreKeys'> {
  preKey: WirePreKey | null;
}

/** A message as it travels in `message:send` / `message:new`. */
export interface WireCiphertext {
  ciphertext: string;
  signalType: number;
}

/** A client's Signal state: its store (private keys, sessions) and what it has published. */
export interface SignalDevice {
  store: InMemorySignalStore;
  bundle: WireBundleUpload;
}

const b64 = (bytes: ArrayBuffer): string => Buffer.from(bytes).toString('base64');
const bytes = (text: string): ArrayBuffer => {
  const buffer = Buffer.from(text, 'base64');
  return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength) as ArrayBuffer;
};

/**
 * Generates what a client generates on sign-in: identity key pair, registration id, a signed
 * prekey and `preKeyCount` one-time prekeys (ids from `firstPreKeyId`), keeping the private halves
 * in the store and returning the upload body with the public halves.
 */
export async function createSignalDevice(options: { preKeyCount?: number; firstPreKeyId?: number; signedPreKeyId?: number } = {}): Promise<SignalDevice> {
  const identity = await KeyHelper.generateIdentityKeyPair();
  const registrationId = KeyHelper.generateRegistrationId();
  const store = new InMemorySignalStore(identity, registrationId);
  const signedPreKeyId = options.signedPreKeyId ?? 1;
  const signed = await KeyHelper.generateSignedPreKey(identity, signedPreKeyId);
  await store.storeSignedPreKey(signedPreKeyId, signed.keyPair);
  return {
    store,
    bundle: {
      registrationId,
      identityKey: b64(identity.pubKey),
      signedPreKeyId,
      signedPreKey: b64(signed.keyPair.pubKey),
      signedPreKeySig: b64(signed.signature),
      oneTimePreKeys: await generatePreKeys(store, options.firstPreKeyId ?? 1, options.preKeyCount ?? 10),
    },
  };
}

/** Makes `count` more one-time prekeys (ids from `firstId`), stores them, returns the public halves. */
export async function generatePreKeys(store: InMemorySignalStore, firstId: number, count: number): Promise<WirePreKey[]> {
  const keys: WirePreKey[] = [];
  for (let keyId = firstId; keyId < firstId + count; keyId++) {
    const preKey = await KeyHelper.generatePreKey(keyId);
    await store.storePreKey(keyId, preKey.keyPair);
    keys.push({ keyId, publicKey: b64(preKey.keyPair.pubKey) });
  }
  return keys;
}

const addressOf = (userId: string) => new SignalProtocolAddress(userId, DEVICE_ID);

/** X3DH as the initiator: builds a session with `remoteUserId` from the bundle the server handed out. */
export async function startSession(device: SignalDevice, remoteUserId: string, bundle: WireBundle): Promise<void> {
  await new SessionBuilder(device.store, addressOf(remoteUserId)).processPreKey({
    registrationId: bundle.registrationId,
    identityKey: bytes(bundle.identityKey),
    signedPreKey: { keyId: bundle.signedPreKeyId, publicKey: bytes(bundle.signedPreKey), signature: bytes(bundle.signedPreKeySig) },
    preKey: bundle.preKey ? { keyId: bundle.preKey.keyId, publicKey: bytes(bundle.preKey.publicKey) } : undefined,
  });
}

/** Encrypts for `remoteUserId`: base64 ciphertext and the Signal message type (3 until the peer answers). */
export async function encryptFor(device: SignalDevice, remoteUserId: string, plaintext: string): Promise<WireCiphertext> {
  const message = await new SessionCipher(device.store, addressOf(remoteUserId)).encrypt(bytes(Buffer.from(plaintext, 'utf8').toString('base64')));
  // The library returns the serialised message as a binary string: one char per byte.
  return { ciphertext: Buffer.from(message.body!, 'latin1').toString('base64'), signalType: message.type };
}

/** Decrypts a message from `remoteUserId`; a PreKeyWhisperMessage also completes the session. */
export async function decryptFrom(device: SignalDevice, remoteUserId: string, message: WireCiphertext): Promise<string> {
  const cipher = new SessionCipher(device.store, addressOf(remoteUserId));
  const body = bytes(message.ciphertext);
  const plaintext =
    message.signalType === SIGNAL_PREKEY_WHISPER ? await cipher.decryptPreKeyWhisperMessage(body) : await cipher.decryptWhisperMessage(body);
  return Buffer.from(plaintext).toString('utf8');
}
