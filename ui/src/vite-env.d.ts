// Vite's types for what the UI imports besides code (its CSS).
/// <reference types="vite/client" />
