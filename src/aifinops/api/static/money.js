// Money on the page: exact decimal strings from the API, summed as integer nano-units (BigInt), rounded
// half-even for display only (the project's one rounding rule). Never a float in a shown amount.

const NANOS = 9;
const SCALE = 10n ** BigInt(NANOS);

/** "12.5" → 12500000000n. Throws on anything that is not a plain decimal with at most 9 places. */
export function toNanos(text) {
  const m = /^(-?)(\d+)(?:\.(\d{1,9}))?$/.exec(String(text));
  if (!m) throw new Error(`not a decimal amount with at most ${NANOS} places: ${text}`);
  const value = BigInt(m[2]) * SCALE + BigInt((m[3] || "").padEnd(NANOS, "0"));
  return m[1] ? -value : value;
}

/** 12500000000n → "12.5" (trailing zeros dropped, like the API). */
export function fromNanos(nanos) {
  const neg = nanos < 0n;
  const abs = neg ? -nanos : nanos;
  const frac = (abs % SCALE).toString().padStart(NANOS, "0").replace(/0+$/, "");
  return `${neg ? "-" : ""}${abs / SCALE}${frac ? "." + frac : ""}`;
}

/** Round nano-units half to even at `places` decimals: returns nano-units. */
function roundNanos(nanos, places) {
  const unit = 10n ** BigInt(NANOS - places);
  const neg = nanos < 0n;
  const abs = neg ? -nanos : nanos;
  let q = abs / unit;
  const r = abs % unit;
  if (r * 2n > unit || (r * 2n === unit && q % 2n === 1n)) q += 1n;
  return (neg ? -q : q) * unit;
}

/** "0.001350066", 4 → "0.0014"; "1234.5", 2 → "1,234.50". */
export function roundText(text, places) {
  const rounded = roundNanos(toNanos(text), places);
  const neg = rounded < 0n;
  const abs = neg ? -rounded : rounded;
  const whole = (abs / SCALE).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const frac = (abs % SCALE).toString().padStart(NANOS, "0").slice(0, places);
  return `${neg ? "-" : ""}${whole}${places ? "." + frac : ""}`;
}

/** Decimal places to show: 2 for zero and from one unit up; below, the first of 4, 6, 9 that keeps it non-zero. */
export function displayPlaces(text) {
  const nanos = toNanos(text);
  const abs = nanos < 0n ? -nanos : nanos;
  if (abs === 0n || abs >= SCALE) return 2;
  return [4, 6].find((places) => roundNanos(abs, places) !== 0n) ?? NANOS;
}

/** The amount as shown: rounded half-even, thousands separated. */
export function formatAmount(text) {
  return roundText(text, displayPlaces(text));
}

/** Sum [{amount, currency, basis}] per (currency, basis): never across currencies or bases. */
export function sumByCurrency(amounts) {
  const acc = new Map();
  for (const a of amounts) {
    const key = `${a.currency} ${a.basis}`;
    acc.set(key, (acc.get(key) || 0n) + toNanos(a.amount));
  }
  return [...acc.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, nanos]) => {
      const [currency, basis] = key.split(" ");
      return { amount: fromNanos(nanos), currency, basis };
    });
}

/** A number for chart geometry only (pixels), never for text. */
export function toNumber(text) {
  return Number(toNanos(text)) / 1e9;
}

/** part ÷ whole as a percentage string with one decimal, or "—" when whole is zero. */
export function share(part, whole) {
  const p = toNanos(part);
  const w = toNanos(whole);
  if (w === 0n) return "—";
  const tenths = roundNanos((p * 1000n * SCALE) / w, 0) / SCALE;
  return `${tenths / 10n}.${(tenths < 0n ? -tenths : tenths) % 10n} %`;
}
