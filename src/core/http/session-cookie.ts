/** The cookie that carries the session token for browsers (HTTP and the WebSocket upgrade). */
export const SESSION_COOKIE = 'h2v_session';
