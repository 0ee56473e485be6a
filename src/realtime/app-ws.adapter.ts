import { WsAdapter } from '@nestjs/platform-ws';

/**
 * The plain `ws` adapter with Nest's own frame dispatch switched off: the H2V clients speak
 * `{event, payload}` (not Nest's `{event, data}`), so the gateway parses frames itself and hands
 * them to `@OnSocketEvent` methods.
 */
export class AppWsAdapter extends WsAdapter {
  override bindMessageHandlers(): void {
    // Frames are dispatched by WsGateway; see the class comment.
  }
}
