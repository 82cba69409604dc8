/**
 * Writes to stdout and resolves once the text is handed to the OS. The CLI ends with
 * process.exit(), which drops whatever a pipe has not taken yet: large outputs (a 512 KiB log
 * piped to `less`) must be awaited.
 */
export function writeStdout(text: string): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(text, (e) => (e ? reject(e) : resolve())));
}
