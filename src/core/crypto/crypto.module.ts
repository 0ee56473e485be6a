import { Global, Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { SecretBox } from './secret-box';

@Global()
@Module({
  providers: [{ provide: SecretBox, inject: [AppConfig], useFactory: (config: AppConfig) => new SecretBox(config.values.appSecret) }],
  exports: [SecretBox],
})
export class CryptoModule {}
