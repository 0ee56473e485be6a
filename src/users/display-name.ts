/**
 * The name the server builds into strings (wire-contract-v2.2 §0, the client's own rule):
 * `firstName lastName`, the non-empty parts joined by one space, else the nickname.
 */
export function displayName(nickname: string, firstName: string | null, lastName: string | null): string {
  return [firstName, lastName].filter((part) => part && part.trim()).join(' ') || nickname;
}
