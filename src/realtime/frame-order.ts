const ANSWERED: Promise<void> = Promise.resolve();

/** A pipelined frame's place among its socket's frames (see FrameOrder.enter). */
export interface FrameSlot {
  /** Settles once every frame taken before this one has been answered. */
  readonly previous: Promise<void>;
  /** Settles when the handler says the frame has taken its place (or it is finished). */
  readonly admitted: Promise<void>;
  admit(): void;
  /** Hands over the frame's run (which never rejects): the frame counts as answered once it and `previous` have settled. */
  finish(run: Promise<void>): void;
}

/**
 * The order of one socket's frames. The gateway takes frames one at a time; a frame normally
 * starts after the one before it was answered (drain). A handler marked `pipeline: n` lets the
 * socket's next frames of the same event start as soon as it has taken its place (a send queued
 * for its batch), up to n at once, while each frame's answer still comes after those of the
 * frames before it (`previous`). A frame of any other event waits until they are all answered.
 */
export class FrameOrder {
  /** Settles when every frame taken so far has been answered. */
  private last: Promise<void> = ANSWERED;
  /** The answers still awaited of the pipelined frames taken, oldest first, and their event (an idle socket holds none). */
  private open: Array<Promise<void>> | null = null;
  private openEvent: string | null = null;

  /** Waits until every frame taken so far has been answered. */
  drain(): Promise<void> {
    return this.last;
  }

  /** Takes a frame of pipelined `event`: waits for open frames of another event, or for the oldest of `depth` open ones. */
  async enter(event: string, depth: number): Promise<FrameSlot> {
    if (this.openEvent !== null && this.openEvent !== event) await this.last;
    while (this.open && this.open.length >= depth) await this.open[0];
    this.openEvent = event;
    const previous = this.last;
    let admit!: () => void;
    const admitted = new Promise<void>((resolve) => (admit = resolve));
    return {
      previous,
      admitted,
      admit,
      finish: (run) => {
        const answered = Promise.all([previous, run]).then(() => undefined);
        this.last = answered;
        (this.open ??= []).push(answered);
        void answered.then(() => {
          // Answers settle in the order frames were taken: this one is the oldest still listed.
          this.open!.shift();
          if (!this.open!.length) {
            this.open = null;
            this.openEvent = null;
            if (this.last === answered) this.last = ANSWERED;
          }
        });
      },
    };
  }
}
