import { ReceiptFacts, receiptVisible } from './read-receipts';

const reader = (receiptLevel: unknown, facts: Partial<ReceiptFacts> = {}): ReceiptFacts => ({ userId: 'r', receiptLevel, contactOf: [], blockedWith: [], ...facts });

describe('read receipt visibility', () => {
  it('shows receipts to everyone by default and with true/all, to no one else with false/nobody', () => {
    for (const level of [undefined, null, true, 'all']) expect(receiptVisible(reader(level), 'v')).toBe(true);
    for (const level of [false, 'nobody']) expect(receiptVisible(reader(level), 'v')).toBe(false);
  });

  it('shows `contacts` receipts only to users in the reader\'s contacts', () => {
    const facts = reader('contacts', { contactOf: ['friend'] });
    expect([receiptVisible(facts, 'friend'), receiptVisible(facts, 'stranger')]).toEqual([true, false]);
  });

  it('hides receipts across a block, whatever the level, and always shows the reader their own', () => {
    const facts = reader('all', { contactOf: ['v'], blockedWith: ['v'] });
    expect(receiptVisible(facts, 'v')).toBe(false);
    for (const level of [false, 'nobody', 'contacts']) expect(receiptVisible(reader(level, { blockedWith: ['r'] }), 'r')).toBe(true);
  });
});
