import { Column, Entity, PrimaryColumn } from 'typeorm';

/** The pending code of one email address: hashes only, with its expiry and wrong-try counter. */
@Entity('otp_codes')
export class OtpCodeEntity {
  @PrimaryColumn('text') email: string;
  @Column('text', { name: 'code_hash' }) codeHash: string;
  @Column('text', { name: 'verify_token_hash', nullable: true }) verifyTokenHash: string | null;
  @Column('int') attempts: number;
  @Column('timestamptz', { name: 'sent_at' }) sentAt: Date;
  @Column('timestamptz', { name: 'expires_at' }) expiresAt: Date;
}
