/** Types of scripts/build.mjs (plain JavaScript, so that bin/postern.js and `npm start` run it with node alone). */
export declare const ROOT: string;
export declare const DIST: string;
export declare const STAMP: string;
export declare function newestSourceMtime(root?: string): number;
export declare function distIsCurrent(root?: string): boolean;
export declare function build(outDir?: string): Promise<{ files: number; ms: number }>;
