export { OutboundModule } from './outbound.module';
export { OutboundPolicy } from './outbound-policy';
export { OUTBOUND_REFUSAL_MESSAGES, OutboundRefusedError, ResolutionUnavailableError } from './outbound-refused.error';
export type { OutboundRefusalReason } from './outbound-refused.error';
export { refusedAddressReason } from './address-policy';
