export { OutboundModule } from './outbound.module';
export { OutboundPolicy } from './outbound-policy';
export { OutboundRefusedError } from './outbound-refused.error';
export type { OutboundRefusalReason } from './outbound-refused.error';
export { refusedAddressReason } from './address-policy';
