// Types for build-web.mjs (plain JS so that npm start needs no TypeScript step).
export const WEB_OUT: string;
/** [path under the output dir, source file] pairs copied in after the vite build. */
export function runtimeAssets(): Array<[string, string]>;
export function webStale(outDir?: string): boolean;
export function buildWeb(opts?: { force?: boolean; quiet?: boolean; outDir?: string }): Promise<string>;
