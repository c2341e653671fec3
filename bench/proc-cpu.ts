/**
 * A process's CPU time as the kernel accounts it, read from /proc/<pid>/stat
 * (Linux only): utime + stime, fields 14 and 15, in clock ticks, covering
 * every thread of the process (V8's compiler and GC threads, libuv's pool),
 * which is why the benches read the server's CPU here rather than asking the
 * server itself. Ticks per second come from `getconf CLK_TCK` (USER_HZ, 100
 * on every mainstream Linux build), so one reading is good to 10 ms: a run
 * must last long enough for that to vanish against its total.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** USER_HZ from `getconf CLK_TCK`; 100 when getconf is missing or says nothing usable (the kernel's fixed value on x86 and arm64). */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 });
    const n = Number(r.stdout?.trim());
    ticksPerSecond = r.status === 0 && Number.isInteger(n) && n > 0 ? n : 100;
  }
  return ticksPerSecond;
}

/** CPU time (user + system, all threads) of process `pid` so far, in µs. Throws if the process is gone. */
export function procCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 2 is the command name in parentheses and may itself hold ") ": the fields after it start past the LAST ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so utime (field 14) is fields[11] and stime (15) fields[12].
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`unreadable /proc/${pid}/stat`);
  return ((utime + stime) * 1e6) / clockTicksPerSecond();
}
