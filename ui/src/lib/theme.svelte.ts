// Light, dark, or whatever the system prefers; the choice is kept in this browser.
type Theme = 'light' | 'dark' | 'system';

const KEY = 'labq.theme';

export const theme = $state<{ value: Theme }>({ value: (localStorage.getItem(KEY) as Theme | null) ?? 'system' });

export function applyTheme(): void {
  const dark = theme.value === 'dark' || (theme.value === 'system' && matchMedia('(prefers-color-scheme: dark)').matches);
  document.documentElement.dataset.theme = dark ? 'dark' : 'light';
}

export function cycleTheme(): void {
  theme.value = theme.value === 'system' ? 'dark' : theme.value === 'dark' ? 'light' : 'system';
  localStorage.setItem(KEY, theme.value);
  applyTheme();
}
