/** How far a user's presence is shown, from the `showOnlineStatus` setting (boolean or the client's levels). */
export type PresenceLevel = 'all' | 'contacts' | 'nobody';

export function presenceLevel(setting: unknown): PresenceLevel {
  if (setting === false || setting === 'nobody') return 'nobody';
  if (setting === 'contacts') return 'contacts';
  return 'all';
}

/** Whether `target`'s presence may be shown to a viewer, given what the database says about the pair. */
export function presenceVisible(level: PresenceLevel, pair: { blocksViewer: boolean; viewerIsContact: boolean }): boolean {
  if (pair.blocksViewer || level === 'nobody') return false;
  return level === 'all' || pair.viewerIsContact;
}
