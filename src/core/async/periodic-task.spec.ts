import { Logger } from '@nestjs/common';
import { PeriodicTask, TaskSchedule } from './periodic-task';

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

describe('PeriodicTask', () => {
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
});
