/** How long an SMTP server may keep a delivery waiting: to connect, to greet, and between any two replies. */
export const SMTP_TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 } as const;

/**
 * The nodemailer transport of SMTP_URL. nodemailer's own timeouts (2 min to connect, 10 min of
 * silence) let a server that accepts and then stalls hold every mail slot of the process (and
 * with them every sign-in) for ten minutes per attempt; with these, an attempt fails soon and
 * the job's retries take over. Timeouts given in the URL's query (`?socketTimeout=…`) win.
 */
export function smtpTransport(url: string): { url: string } & typeof SMTP_TIMEOUTS {
  return { url, ...SMTP_TIMEOUTS };
}
