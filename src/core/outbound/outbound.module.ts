import { Global, Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { OutboundPolicy } from './outbound-policy';

/** Provides OutboundPolicy, the filter every request to a user-chosen URL goes through. */
@Global()
@Module({
  providers: [{ provide: OutboundPolicy, inject: [AppConfig], useFactory: (config: AppConfig) => new OutboundPolicy({ allowHosts: config.values.outboundAllowHosts }) }],
  exports: [OutboundPolicy],
})
export class OutboundModule {}
