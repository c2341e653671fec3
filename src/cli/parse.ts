/** Argument parsers for commander options; they throw commander's InvalidArgumentError. */
import { InvalidArgumentError } from 'commander';

export function parseIntInRange(min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    return n;
  };
}

export const parsePort = parseIntInRange(0, 65535);
export const parseShareCount = parseIntInRange(1, 255);
