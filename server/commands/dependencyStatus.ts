// Where a task that is not held stands given the statuses of its dependencies: one rule for
// a submission, a release from hold and a relaunch. A failed, cancelled or blocked
// dependency blocks it, unless it accepts failures: then a dependency that will not
// succeed without someone relaunching it counts as ended.
import type { TaskStatus } from '../../shared/schemas/task.js';

const WONT_SUCCEED: readonly TaskStatus[] = ['failed', 'cancelled', 'blocked'];

export function dependencyStatus(dependencies: TaskStatus[], acceptFailure: boolean): 'pending' | 'waiting' | 'blocked' {
  if (!acceptFailure && dependencies.some((s) => WONT_SUCCEED.includes(s))) return 'blocked';
  if (dependencies.every((s) => s === 'succeeded' || (acceptFailure && WONT_SUCCEED.includes(s)))) return 'pending';
  return 'waiting';
}
