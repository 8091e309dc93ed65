// Rollover schedule: when a key's cryptoperiod ends, at local midnight in the configured time zone.

/** Offset of `tz` from UTC at instant `t`, in minutes (positive east of Greenwich). */
function offsetMinutes(t: number, tz: string): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: tz,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(new Date(t));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  const asUtc = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
  return Math.round((asUtc - Math.floor(t / 1000) * 1000) / 60000);
}

/** The calendar date (y, m, d) of instant `t` in `tz`. */
function localDate(t: Date, tz: string): [number, number, number] {
  const shifted = new Date(t.getTime() + offsetMinutes(t.getTime(), tz) * 60000);
  return [shifted.getUTCFullYear(), shifted.getUTCMonth(), shifted.getUTCDate()];
}

/** The UTC instant of 00:00 local time on the given date in `tz` (two passes settle DST changes). */
export function zonedMidnight(y: number, m: number, d: number, tz: string): Date {
  const wall = Date.UTC(y, m, d);
  let t = wall - offsetMinutes(wall, tz) * 60000;
  t = wall - offsetMinutes(t, tz) * 60000;
  return new Date(t);
}

/** When a version created at `created` is due for rollover: local midnight `periodDays` days after its creation date. */
export function nextRollover(created: Date, periodDays: number, tz: string): Date {
  const [y, m, d] = localDate(created, tz);
  return zonedMidnight(y, m, d + periodDays, tz);
}

export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
