/** Resolves session tokens for sockets and re-checks their sessions; provided by the auth module. */
export abstract class SocketAuthenticator {
  abstract authenticate(token: string): Promise<{ userId: string; sessionId: string } | null>;
  /** Which of these sessions are still live (not ended, not expired). */
  abstract liveSessions(sessionIds: string[]): Promise<Set<string>>;
}
