/**
 * C0 and C1 control characters, and the bidirectional controls that reorder what follows them
 * (`invoice\u202Egnp.exe` shows as `invoiceexe.png`): nothing a name shown to others needs.
 */
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
/**
 * Characters that show nothing on their own: format characters, spaces, default-ignorable code
 * points (variation selectors, the combining grapheme joiner, Khmer's inherent vowels), combining
 * marks with no letter to sit on, and the fillers that pass for letters.
 */
const INVISIBLE_ONLY = /^[\p{Cf}\p{Z}\s\p{Default_Ignorable_Code_Point}\p{Mn}\p{Me}\u115f\u1160\u3164\uffa0\u2800]*$/u;

/** `text` without control or bidirectional control characters. */
export function withoutControls(text: string): string {
  return text.replace(CONTROLS, '');
}

/**
 * A name others will see (a first or last name, a group's name): without controls, trimmed, and
 * empty when nothing visible is left (zero-width spaces, fillers), so that the rules for an empty
 * name apply (the nickname stands in for a person's; a group must have one).
 */
export function displayText(text: string): string {
  const cleaned = withoutControls(text).trim();
  return INVISIBLE_ONLY.test(cleaned) ? '' : cleaned;
}
