import { eventually, signUp } from '../support/factories';
import { createTestApp } from '../support/test-app';

// Log capture needs the first app of its file (the process keeps the first app's logger).
describe('unexpected faults', () => {
  it('answers 500 INTERNAL_ERROR with a request id and no stack or SQL, and logs the fault', async () => {
    const t = await createTestApp({ captureLogs: true });
    try {
      const user = await signUp(t);
      await t.backend.sql('ALTER TABLE contacts RENAME TO contacts_moved');
      try {
        const res = await t.http().get('/api/contacts').set(user.auth).expect(500);
        expect(res.body).toEqual({ success: false, code: 'INTERNAL_ERROR', message: 'Internal server error', requestId: expect.any(String) });
        expect(JSON.stringify(res.body)).not.toMatch(/contacts|SELECT|relation|at \//i);
        await eventually(async () => expect(t.logs.join('')).toContain(res.body.requestId));
      } finally {
        await t.backend.sql('ALTER TABLE contacts_moved RENAME TO contacts');
      }
    } finally {
      await t.close();
    }
  });
});
