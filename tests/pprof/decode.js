// decode.js FILE: decodes a gzipped pprof file with the npm package pprof-format
// and prints it in a normalized text that test_pprof.c compares line by line.
'use strict';
const fs = require('fs');
const zlib = require('zlib');
const { Profile } = require('pprof-format');

const p = Profile.decode(zlib.gunzipSync(fs.readFileSync(process.argv[2])));
const s = (i) => p.stringTable.strings[Number(i)];
const out = [];
out.push('types ' + p.sampleType.map((t) => s(t.type) + '/' + s(t.unit)).join(' '));
out.push('default ' + s(p.defaultSampleType));
out.push('period ' + s(p.periodType.type) + '/' + s(p.periodType.unit) + ' ' + p.period);
out.push('time ' + p.timeNanos);
for (const m of p.mapping)
  out.push(`mapping ${m.id} ${s(m.filename)} ${s(m.buildId)} 0x${BigInt(m.memoryStart).toString(16)}` +
           ` fn=${m.hasFunctions ? 1 : 0} inline=${m.hasInlineFrames ? 1 : 0}`);
const locs = new Map(p.location.map((l) => [String(l.id), l]));
const funcs = new Map(p.function.map((f) => [String(f.id), f]));
for (const smp of p.sample) {
  const frames = smp.locationId.map((id) => {
    const l = locs.get(String(id));
    if (l.line.length === 0) return '0x' + BigInt(l.address).toString(16);
    return l.line.map((ln) => {
      const f = funcs.get(String(ln.functionId));
      return `${s(f.name)}@${s(f.filename)}:${ln.line}`;
    }).join('+');
  });
  out.push('sample ' + smp.value.join(' ') + ' | ' + frames.join(' ; '));
}
process.stdout.write(out.join('\n') + '\n');
