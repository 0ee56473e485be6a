/**
 * The one catalogue of error codes: code -> HTTP status and the message clients see.
 * Grouped by feature; a new module appends its codes here. Sockets use the same codes.
 */
export const ERROR_CODES = {
  // core
  VALIDATION_ERROR: { status: 422, message: 'Invalid request data' },
  INVALID_JSON: { status: 400, message: 'Malformed JSON body' },
  BAD_REQUEST: { status: 400, message: 'Bad request' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'Request body is too large' },
  HEADERS_TOO_LARGE: { status: 431, message: 'Request headers are too large' },
  NOT_FOUND: { status: 404, message: 'Not found' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed' },
  RATE_LIMIT: { status: 429, message: 'Too many requests' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request arrived too slowly' },
  UNAUTHORIZED: { status: 401, message: 'Authentication required' },
  FORBIDDEN: { status: 403, message: 'Forbidden' },
  ORIGIN_NOT_ALLOWED: { status: 403, message: 'Requests from this origin are not allowed' },
  CSRF_REJECTED: { status: 403, message: 'Send X-Requested-With: H2V with requests authenticated by the session cookie' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Unsupported content type' },
  INTERNAL_ERROR: { status: 500, message: 'Internal server error' },
  SERVICE_UNAVAILABLE: { status: 503, message: 'Service unavailable' },
  UNKNOWN_EVENT: { status: 400, message: 'Unknown event' },
  INVALID_FRAME: { status: 400, message: 'Frames must be JSON objects {event, payload}' },
  TOO_MANY_SOCKETS: { status: 429, message: 'Too many open connections' },

  // event log (resume)
  INVALID_SEQ: { status: 422, message: 'This position is not one of your event stream' },
  RESYNC_REQUIRED: { status: 410, message: 'This position is older than the event log holds; reload state' },

  // auth
  OTP_TOO_SOON: { status: 429, message: 'Please wait before requesting another code' },
  EMAIL_SEND_FAILED: { status: 502, message: 'The email could not be delivered' },
  OTP_EXPIRED: { status: 400, message: 'The code has expired or was never sent' },
  INVALID_CODE: { status: 400, message: 'Wrong code' },
  OTP_MAX_ATTEMPTS: { status: 429, message: 'Too many wrong codes; request a new one' },
  OTP_SEND_LIMIT: { status: 429, message: 'Too many codes sent to this email; try again later' },
  OTP_LOCKED: { status: 429, message: 'Too many wrong codes for this email; sign-in is locked for a while' },
  DISPOSABLE_EMAIL: { status: 422, message: 'Disposable email addresses are not allowed' },
  NICKNAME_REQUIRED: { status: 422, message: 'A nickname is required to create the account' },
  NICKNAME_TAKEN: { status: 409, message: 'This nickname is already taken' },
  SESSION_NOT_FOUND: { status: 404, message: 'Session not found' },

  // users, contacts
  USER_NOT_FOUND: { status: 404, message: 'User not found' },
  BLOCKED: { status: 403, message: 'You cannot interact with this user' },
  CANNOT_TARGET_SELF: { status: 422, message: 'This action cannot target yourself' },
  CONTACTS_LIMIT: { status: 400, message: 'Too many contacts' },
  BLOCKS_LIMIT: { status: 400, message: 'Too many blocked users' },

  // chats, messages
  CHAT_NOT_FOUND: { status: 404, message: 'Chat not found' },
  MESSAGE_NOT_FOUND: { status: 404, message: 'Message not found' },
  NOT_MESSAGE_AUTHOR: { status: 403, message: 'You can only change your own messages' },
  NOT_A_GROUP: { status: 400, message: 'This works only in group chats' },
  MEMBER_NOT_FOUND: { status: 404, message: 'This user is not a member of the chat' },
  CANNOT_CHANGE_OWNER: { status: 400, message: "The owner's role cannot be changed" },
  /** Sent as `PRIVACY_GROUP_INVITE:<display names>` (wire-contract-v2.2 §18.6): see AppError.qualified and QUALIFIED_CODES. */
  PRIVACY_GROUP_INVITE: { status: 403, message: 'These users do not allow you to add them to groups' },
  MEDIA_NOT_FOUND: { status: 422, message: 'The media was not uploaded by you' },
  PLAINTEXT_IN_SECRET_CHAT: { status: 422, message: 'Secret chats accept only ciphertext' },
  CIPHERTEXT_REQUIRED: { status: 422, message: 'Secret chat messages need ciphertext and signalType' },
  FORWARD_NOT_ALLOWED: { status: 403, message: 'This message cannot be forwarded here' },
  PIN_LIMIT: { status: 400, message: 'Too many pinned chats' },
  SECRET_CHAT_RESTRICTED: { status: 400, message: 'This is not available in secret chats' },
  GROUP_LIMIT_EXCEEDED: { status: 400, message: 'A group holds at most 200 members' },
  INVITE_NOT_FOUND: { status: 404, message: 'Invite link not found' },
  INVITE_EXPIRED: { status: 410, message: 'This invite link has expired or reached its use limit' },
  INVITE_LINK_LIMIT: { status: 400, message: 'A chat has at most 20 active invite links' },

  // uploads
  FILE_TOO_LARGE: { status: 413, message: 'The file is too large' },
  UPLOAD_QUOTA_EXCEEDED: { status: 429, message: 'Too much uploaded in the last 24 hours; try again later' },
  UNSUPPORTED_FILE_TYPE: { status: 415, message: 'This file type is not supported' },
  IMAGE_TOO_LARGE: { status: 422, message: 'The image has too many pixels' },
  INVALID_IMAGE: { status: 422, message: 'The image could not be read' },

  // link previews
  OUTBOUND_REFUSED: { status: 403, message: 'This address is not fetched: it is private, or not on the default port' },
  UPSTREAM_UNAVAILABLE: { status: 502, message: 'The remote server could not be reached or did not answer with the file' },

  // keys
  BUNDLE_NOT_FOUND: { status: 404, message: 'This user has no key bundle' },
  PREKEY_ID_TAKEN: { status: 409, message: 'A one-time prekey with this id already exists' },
  PREKEY_LIMIT: { status: 400, message: 'Too many one-time prekeys stored' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * The codes sent with a detail after a colon (AppError.qualified), with the form the client
 * receives and what the detail is: /api/docs documents them in this form, not as the bare code.
 */
export const QUALIFIED_CODES: Partial<Record<ErrorCode, { form: string; detail: string }>> = {
  PRIVACY_GROUP_INVITE: { form: 'PRIVACY_GROUP_INVITE:<names>', detail: '`<names>` is the refusing users\' display names joined by ", "' },
};

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, code);
}
