import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A user's published Signal Protocol bundle; keys and signature are canonical padded base64. */
@Entity('key_bundles')
export class KeyBundleEntity {
  @PrimaryColumn('uuid', { name: 'user_id' }) userId: string;
  @Column('int', { name: 'registration_id' }) registrationId: number;
  @Column('text', { name: 'identity_key' }) identityKey: string;
  @Column('int', { name: 'signed_prekey_id' }) signedPreKeyId: number;
  @Column('text', { name: 'signed_prekey' }) signedPreKey: string;
  @Column('text', { name: 'signed_prekey_sig' }) signedPreKeySig: string;
  @Column('timestamptz', { name: 'updated_at', default: () => 'now()' }) updatedAt: Date;
}
