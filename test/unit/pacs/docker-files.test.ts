/**
 * No Docker engine here, and hadolint is not packaged for Debian: this checks what can be checked without
 * them — every COPY source exists in the build context, final images run as a non-root user, compose
 * references existing files, and the shipped configs validate against our schemas.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePacsConfig } from '../../../server/src/pacs/config.js';
import { ORTHANC_PLUGINS } from '../../helpers/orthanc.js';

const ROOT = process.cwd();
const DOCKER = join(ROOT, 'docker');

/** Instructions with continuation lines joined. */
function instructions(file: string): { op: string; args: string }[] {
  return readFileSync(file, 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op!.toUpperCase(), args: rest.join(' ') };
    });
}

function checkDockerfile(file: string, context: string): { stages: string[]; users: Map<string, string> } {
  const stages: string[] = [];
  const users = new Map<string, string>();
  let current = '';
  for (const { op, args } of instructions(file)) {
    if (op === 'FROM') {
      const m = /\bAS\s+(\S+)/i.exec(args);
      current = m ? m[1]! : `stage${stages.length}`;
      const baseStage = args.split(/\s+/)[0]!;
      if (users.has(baseStage)) users.set(current, users.get(baseStage)!);
      stages.push(current);
    } else if (op === 'USER') {
      users.set(current, args);
    } else if (op === 'COPY' && !/--from=/.test(args)) {
      const parts = args.split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const src of parts.slice(0, -1)) expect([file, src, existsSync(join(context, src))]).toEqual([file, src, true]);
    }
  }
  return { stages, users };
}

describe('docker/', () => {
  it('server.Dockerfile: COPY sources exist; server and viewer targets run as the node user', () => {
    const { stages, users } = checkDockerfile(join(DOCKER, 'server.Dockerfile'), ROOT);
    expect(stages).toEqual(expect.arrayContaining(['build', 'viewer-build', 'prod-deps', 'server', 'viewer']));
    expect(users.get('server')).toBe('node');
    expect(users.get('viewer')).toBe('node');
  });

  it('orthanc.Dockerfile: COPY sources exist; runs as orthanc', () => {
    const { users } = checkDockerfile(join(DOCKER, 'orthanc.Dockerfile'), DOCKER);
    expect([...users.values()]).toEqual(['orthanc']);
  });

  it('compose.yaml: build contexts, Dockerfiles, targets and mounted files exist', () => {
    const text = readFileSync(join(DOCKER, 'compose.yaml'), 'utf8');
    const builds = [...text.matchAll(/build: \{ context: ([^,]+), dockerfile: ([^,}]+)(?:, target: ([^ }]+))? \}/g)];
    expect(builds.map((m) => m[3] ?? '')).toEqual(['', 'viewer', 'server']);
    for (const m of builds) {
      const context = join(DOCKER, m[1]!.trim());
      expect(existsSync(join(context, m[2]!.trim()))).toBe(true);
      if (m[3]) expect(readFileSync(join(context, m[2]!.trim()), 'utf8')).toMatch(new RegExp(`AS ${m[3]}\\b`));
    }
    for (const m of text.matchAll(/- \.\/([^:]+):/g)) expect([m[1], existsSync(join(DOCKER, m[1]!))]).toEqual([m[1], true]);
    for (const service of ['orthanc', 'redis', 'server', 'worker', 'watch']) expect(text).toMatch(new RegExp(`\\n  ${service}:\\n`));
  });

  it('pacs-rules.json validates; orthanc.json loads the DICOMweb plugin the tests use', () => {
    const rules = parsePacsConfig(JSON.parse(readFileSync(join(DOCKER, 'pacs-rules.json'), 'utf8')), 'docker/pacs-rules.json');
    expect(rules.dicomWeb.url).toBe('http://orthanc:8042/dicom-web');
    const orthanc = JSON.parse(readFileSync(join(DOCKER, 'orthanc.json'), 'utf8')) as { Plugins: string[]; DicomWeb: { Enable: boolean } };
    expect(orthanc.Plugins).toEqual([ORTHANC_PLUGINS]);
    expect(orthanc.DicomWeb.Enable).toBe(true);
  });
});
