/** Types of bin/dist-stamp.js (plain JavaScript: the bin needs it before anything is compiled). */
export declare const SOURCE_DIRS: readonly string[];
export declare const ASSETS: readonly string[];
export declare const STAMP_FILE: string;
export declare function sourceFiles(root: string): string[];
export declare function sourceStamp(root: string): string;
export declare function builtStamp(distDir: string): string | undefined;
export declare function distIsCurrent(root: string, distDir?: string): boolean;
