import { Direction, KeyPairType, SessionRecordType, SignalProtocolAddress, StorageType } from '@privacyresearch/libsignal-protocol-typescript';

/**
 * An in-memory SignalProtocolStore: what a client keeps on its device (its identity and the
 * private halves of its prekeys, its sessions and the identities it has seen). Identities are
 * trusted on first use and must not change afterwards, as Signal clients do by default.
 */
export class InMemorySignalStore implements StorageType {
  private readonly preKeys = new Map<string, KeyPairType>();
  private readonly signedPreKeys = new Map<string, KeyPairType>();
  private readonly sessions = new Map<string, SessionRecordType>();
  /** Remote identity keys by user name (the address without its device id). */
  private readonly identities = new Map<string, ArrayBuffer>();

  constructor(
    private readonly identityKeyPair: KeyPairType,
    private readonly registrationId: number,
  ) {}

  async getIdentityKeyPair(): Promise<KeyPairType> {
    return this.identityKeyPair;
  }

  async getLocalRegistrationId(): Promise<number> {
    return this.registrationId;
  }

  async isTrustedIdentity(identifier: string, identityKey: ArrayBuffer, _direction: Direction): Promise<boolean> {
    const known = this.identities.get(identifier);
    return known === undefined || equalBytes(known, identityKey);
  }

  /** Returns true when a different identity was already stored for this user (it changed). */
  async saveIdentity(encodedAddress: string, publicKey: ArrayBuffer): Promise<boolean> {
    const name = SignalProtocolAddress.fromString(encodedAddress).getName();
    const known = this.identities.get(name);
    this.identities.set(name, publicKey);
    return known !== undefined && !equalBytes(known, publicKey);
  }

  async loadPreKey(keyId: string | number): Promise<KeyPairType | undefined> {
    return this.preKeys.get(String(keyId));
  }

  async storePreKey(keyId: string | number, keyPair: KeyPairType): Promise<void> {
    this.preKeys.set(String(keyId), keyPair);
  }

  async removePreKey(keyId: string | number): Promise<void> {
    this.preKeys.delete(String(keyId));
  }

  async loadSignedPreKey(keyId: string | number): Promise<KeyPairType | undefined> {
    return this.signedPreKeys.get(String(keyId));
  }

  async storeSignedPreKey(keyId: string | number, keyPair: KeyPairType): Promise<void> {
    this.signedPreKeys.set(String(keyId), keyPair);
  }

  async removeSignedPreKey(keyId: string | number): Promise<void> {
    this.signedPreKeys.delete(String(keyId));
  }

  async loadSession(encodedAddress: string): Promise<SessionRecordType | undefined> {
    return this.sessions.get(encodedAddress);
  }

  async storeSession(encodedAddress: string, record: SessionRecordType): Promise<void> {
    this.sessions.set(encodedAddress, record);
  }

  /** How many one-time prekey private halves the device still holds. */
  preKeyCount(): number {
    return this.preKeys.size;
  }

  hasPreKey(keyId: number): boolean {
    return this.preKeys.has(String(keyId));
  }
}

function equalBytes(a: ArrayBuffer, b: ArrayBuffer): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}
