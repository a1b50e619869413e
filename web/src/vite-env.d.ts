// Vite's ?inline imports give a stylesheet's text (used to put xterm.js's CSS into a shadow root).
declare module '*.css?inline' {
  const css: string;
  export default css;
}
