import { Logger } from '@nestjs/common';
import { shutdownBegan } from '../shutdown';
import { PeriodicTask, SHUTDOWN_WAIT_MS, TaskSchedule } from './periodic-task';

class GatedTask extends PeriodicTask {
  finished = false;
  private open!: () => void;
  readonly opened = new Promise<void>((resolve) => (this.open = resolve));

  constructor() {
    super('gated task', new Logger('GatedTask'));
  }

  release(): void {
    this.open();
  }

  protected schedule(): TaskSchedule | null {
    return null;
  }

  protected async work(): Promise<number> {
    await this.opened;
    this.finished = true;
    return 1;
  }
}

/** A task whose runs fail with the messages given, in turn (null: the run works). */
class ScriptedTask extends PeriodicTask {
  constructor(
    private readonly outcomes: Array<string | null>,
    logger: Logger,
  ) {
    super('scripted task', logger);
  }

  protected schedule(): TaskSchedule | null {
    return null;
  }

  protected async work(): Promise<number> {
    const failure = this.outcomes.shift();
    if (failure) throw new Error(failure);
    return 1;
  }
}

describe('PeriodicTask', () => {
  it('logs a failure once while it lasts (an outage fails every turn), again when it changes, and says when a run works again', async () => {
    const logger = new Logger('ScriptedTask');
    const warn = jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
    const log = jest.spyOn(logger, 'log').mockImplementation(() => undefined);
    const task = new ScriptedTask(['connect ECONNREFUSED', 'connect ECONNREFUSED', 'connect ECONNREFUSED', 'timeout', null, null, 'connect ECONNREFUSED'], logger);
    for (let i = 0; i < 7; i++) await task.run();
    expect(warn.mock.calls.map(([message]) => String(message).split(': ').pop())).toEqual(['connect ECONNREFUSED', 'timeout', 'connect ECONNREFUSED']);
    expect(log).toHaveBeenCalledTimes(1);
    expect(log).toHaveBeenCalledWith('scripted task works again');
  });

  it('lets a shutdown wait for the run in progress (its commits then find the queues and the database still open), and runs one at a time', async () => {
    const task = new GatedTask();
    const run = task.run();
    expect(await task.run()).toBe(0);
    let shutDown = false;
    const shutdown = task.beforeApplicationShutdown().then(() => (shutDown = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(shutDown).toBe(false);
    task.release();
    await shutdown;
    expect(task.finished).toBe(true);
    expect(await run).toBe(1);
  });

  it('waits for runs in progress no longer than SHUTDOWN_WAIT_MS from the signal, all tasks together, so the job queue drains before the deadline', async () => {
    jest.useFakeTimers();
    try {
      const [first, second] = [new GatedTask(), new GatedTask()];
      void first.run();
      void second.run();
      shutdownBegan(Date.now());
      // Nest runs the hooks of tasks in different modules one after the other.
      let firstDone = false;
      const firstWait = first.beforeApplicationShutdown().then(() => (firstDone = true));
      await jest.advanceTimersByTimeAsync(SHUTDOWN_WAIT_MS - 1);
      expect(firstDone).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      await firstWait;
      // The second finds the budget spent: it waits no more.
      let secondDone = false;
      const secondWait = second.beforeApplicationShutdown().then(() => (secondDone = true));
      await jest.advanceTimersByTimeAsync(0);
      expect(secondDone).toBe(true);
      await secondWait;
      [first, second].forEach((task) => task.release());
    } finally {
      shutdownBegan(null);
      jest.useRealTimers();
    }
  });
});
