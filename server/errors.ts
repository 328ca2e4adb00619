// Errors a command or a route raises on purpose. Each becomes an application/problem+json
// answer (RFC 9457) with the status that fits; anything else is a bug and a 500.
export interface FieldError {
  field: string;
  message: string;
}

export class ProblemError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    detail: string,
    readonly errors?: FieldError[],
  ) {
    super(detail);
  }

  get type(): string {
    return `https://labq.dev/problems/${this.title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  }
}

/** The problem+json body of a refusal; `request_id` lets the caller find it in the log. */
export function problemBody(problem: ProblemError, requestId: string) {
  return {
    type: problem.type,
    title: problem.title,
    status: problem.status,
    detail: problem.message,
    ...(problem.errors ? { errors: problem.errors } : {}),
    request_id: requestId,
  };
}

export function invalid(errors: FieldError[]): ProblemError {
  const detail = errors.map((e) => `${e.field || '(body)'}: ${e.message}`).slice(0, 5).join('; ');
  return new ProblemError(400, 'Invalid request', detail + (errors.length > 5 ? `; and ${errors.length - 5} more` : ''), errors);
}

export function notFound(what: string): ProblemError {
  return new ProblemError(404, 'Not found', `${what} does not exist`);
}

export function conflict(detail: string): ProblemError {
  return new ProblemError(409, 'Conflict', detail);
}

export function forbidden(detail: string): ProblemError {
  return new ProblemError(403, 'Forbidden', detail);
}

/** A worker token touching an execution of another worker's. */
export function notItsExecution(executionId: number): ProblemError {
  return forbidden(`execution ${executionId} is not assigned to the worker this token is bound to`);
}
