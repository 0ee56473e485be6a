import { Module } from '@nestjs/common';
import { MailerModule, MailerOptions } from '@nestjs-modules/mailer';
import { AuthModule } from '../auth/auth.module';
import { AppConfig } from '../core/config/app-config';
import { OtpMailProcessor } from './otp-mail.processor';
import { smtpTransport } from './smtp-transport';

/** Mail delivery: nodemailer over SMTP_URL, or (development) a stream transport kept on disk. */
@Module({
  imports: [
    AuthModule,
    MailerModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig): MailerOptions => ({
        transport: config.values.smtpUrl ? smtpTransport(config.values.smtpUrl) : { streamTransport: true, buffer: true, newline: 'unix' as const },
        defaults: { from: config.values.mailFrom } as MailerOptions['defaults'],
        verifyTransporters: false,
      }),
    }),
  ],
  providers: [OtpMailProcessor],
})
export class MailModule {}
