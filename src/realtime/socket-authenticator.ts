/** Resolves a session token (cookie or `auth` frame) to its user; provided by the auth module. */
export abstract class SocketAuthenticator {
  abstract authenticate(token: string): Promise<{ userId: string; sessionId: string } | null>;
}
