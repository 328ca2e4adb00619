// Builds the monitoring UI into dist/ui, which the server serves at `/` (server/http/staticUi.ts).
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [svelte()],
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    chunkSizeWarningLimit: 1000,
  },
  server: {
    // `npx vite --config ui/vite.config.ts` while `labq up` runs: the API through the dev server.
    proxy: { '/api': { target: process.env.LABQ_SERVER ?? 'http://127.0.0.1:7420', changeOrigin: true } },
  },
});
