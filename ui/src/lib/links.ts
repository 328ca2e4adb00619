// Where an event's stream lives in the UI: a task event links to the task, and so on.
export function streamHref(streamType: string, id: number, data?: Record<string, unknown>): string | null {
  switch (streamType) {
    case 'task':
      return `/tasks/${id}`;
    case 'execution':
      return typeof data?.task_id === 'number' ? `/tasks/${data.task_id}` : null;
    case 'worker':
      return `/workers/${id}`;
    case 'workflow':
      return `/workflows/${id}`;
    case 'step':
      return typeof data?.workflow_id === 'number' ? `/workflows/${data.workflow_id}?step=${id}` : null;
    case 'schedule':
      return `/schedules/${id}`;
    default:
      return null;
  }
}
