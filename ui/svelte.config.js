// Svelte's options for the UI build (ui/vite.config.ts): the defaults; runes are Svelte 5's own.
export default {};
