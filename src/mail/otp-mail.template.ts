export type MailLocale = 'en' | 'ru';

const TEXT: Record<MailLocale, { subject: string; intro: string; lifetime: (m: number) => string; ignore: string }> = {
  en: {
    subject: 'Your H2V code',
    intro: 'Your H2V sign-in code is',
    lifetime: (m) => `It is valid for ${m} minutes.`,
    ignore: 'If you did not ask for it, ignore this message.',
  },
  ru: {
    subject: 'Ваш код H2V',
    intro: 'Ваш код для входа в H2V:',
    lifetime: (m) => `Код действует ${m} минут.`,
    ignore: 'Если вы его не запрашивали, просто проигнорируйте это письмо.',
  },
};

/** The OTP mail in plain text and HTML, in the user's language. */
export function otpMail(code: string, locale: MailLocale, lifetimeMinutes: number): { subject: string; text: string; html: string } {
  const t = TEXT[locale];
  return {
    subject: t.subject,
    text: `${t.intro} ${code}\n\n${t.lifetime(lifetimeMinutes)}\n${t.ignore}\n`,
    html:
      `<p>${t.intro}</p>` +
      `<p style="font-size:28px;font-weight:bold;letter-spacing:6px;font-family:monospace">${code}</p>` +
      `<p>${t.lifetime(lifetimeMinutes)}</p><p style="color:#888">${t.ignore}</p>`,
  };
}
