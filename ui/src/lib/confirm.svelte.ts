// One confirmation dialog for the whole app: an action that changes many tasks, or cannot be
// undone, asks first and says how many it concerns.
interface Question {
  title: string;
  text: string;
  confirm: string;
  danger: boolean;
  resolve: (yes: boolean) => void;
}

export const dialog = $state<{ question: Question | null }>({ question: null });

export function confirmAction(title: string, text: string, { confirm = 'Confirm', danger = false } = {}): Promise<boolean> {
  dialog.question?.resolve(false);
  return new Promise((resolve) => {
    dialog.question = { title, text, confirm, danger, resolve };
  });
}

export function answer(yes: boolean): void {
  const question = dialog.question;
  dialog.question = null;
  question?.resolve(yes);
}
