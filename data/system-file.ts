import * as fs from 'fs';
import { UsageError } from '../contract/errors';

/**
 * The path of a file that a dataset reads from a Debian package (e.g. under
 * /usr/share/), or a one-line error naming the dataset, the package and the
 * install command (a UsageError: the CLI prints the line and exits 2). The
 * fashion-mnist dataset reads its IDX files through it.
 */
export function requireSystemFile(dataset: string, file: string, pkg: string): string {
  if (!fs.existsSync(file)) {
    throw new UsageError(`dataset "${dataset}" needs the Debian package ${pkg} (${file} not found): sudo apt-get install -y ${pkg}`);
  }
  return file;
}
