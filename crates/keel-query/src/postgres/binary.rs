//! PostgreSQL binary wire formats (`*_send` functions) decoded into display values.
//!
//! Every function returns `None` on malformed input instead of panicking.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::Value;

use crate::calendar::{PG_EPOCH_DAYS, format_date, format_time, format_timestamp};

/// A bounds-checked big-endian reader.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    pub(super) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.bytes.len() {
            return None;
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    pub(super) fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    pub(super) fn i16(&mut self) -> Option<i16> {
        self.array().map(i16::from_be_bytes)
    }

    pub(super) fn i32(&mut self) -> Option<i32> {
        self.array().map(i32::from_be_bytes)
    }

    pub(super) fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }

    pub(super) fn i64(&mut self) -> Option<i64> {
        self.array().map(i64::from_be_bytes)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Reads exactly one fixed-size value.
pub(super) fn exact<'a, T>(
    bytes: &'a [u8],
    read: impl FnOnce(&mut Reader<'a>) -> Option<T>,
) -> Option<T> {
    let mut r = Reader::new(bytes);
    let value = read(&mut r)?;
    r.is_empty().then_some(value)
}

fn string(s: String) -> Value {
    Value::String(s)
}

/// `date`: days since 2000-01-01.
pub(super) fn date(bytes: &[u8]) -> Option<Value> {
    Some(string(match exact(bytes, Reader::i32)? {
        i32::MAX => "infinity".into(),
        i32::MIN => "-infinity".into(),
        days => format_date(i64::from(days) + PG_EPOCH_DAYS),
    }))
}

/// `timestamp` / `timestamptz`: microseconds since 2000-01-01 00:00:00 (UTC for tz).
pub(super) fn timestamp(bytes: &[u8], utc: bool) -> Option<Value> {
    Some(string(match exact(bytes, Reader::i64)? {
        i64::MAX => "infinity".into(),
        i64::MIN => "-infinity".into(),
        micros => {
            let unix = micros.checked_add(PG_EPOCH_DAYS * 86_400_000_000)?;
            let text = format_timestamp(unix);
            if utc { text + "Z" } else { text }
        }
    }))
}

/// `time`: microseconds since midnight.
pub(super) fn time(bytes: &[u8]) -> Option<Value> {
    let micros = exact(bytes, Reader::i64)?;
    Some(string(format_time(micros)))
}

/// `timetz`: microseconds since midnight and the zone in seconds *west* of UTC.
pub(super) fn time_tz(bytes: &[u8]) -> Option<Value> {
    let (micros, west) = exact(bytes, |r| Some((r.i64()?, r.i32()?)))?;
    let east = -i64::from(west);
    let sign = if east < 0 { '-' } else { '+' };
    let abs = east.abs();
    let mut text = format!(
        "{}{sign}{:02}:{:02}",
        format_time(micros),
        abs / 3600,
        abs / 60 % 60
    );
    if abs % 60 != 0 {
        let _ = write!(text, ":{:02}", abs % 60);
    }
    Some(string(text))
}

/// `interval` as an ISO 8601 duration (`P1Y2M3DT4H5M6.5S`, `PT0S` for zero).
pub(super) fn interval(bytes: &[u8]) -> Option<Value> {
    let (micros, days, months) = exact(bytes, |r| Some((r.i64()?, r.i32()?, r.i32()?)))?;
    let mut text = String::from("P");
    let (years, months) = (months / 12, months % 12);
    for (n, unit) in [
        (i64::from(years), 'Y'),
        (i64::from(months), 'M'),
        (i64::from(days), 'D'),
    ] {
        if n != 0 {
            let _ = write!(text, "{n}{unit}");
        }
    }
    if micros != 0 {
        text.push('T');
        let sign = if micros < 0 { "-" } else { "" };
        let abs = micros.unsigned_abs();
        let (hours, minutes) = (abs / 3_600_000_000, abs / 60_000_000 % 60);
        let (seconds, fraction) = (abs / 1_000_000 % 60, abs % 1_000_000);
        if hours != 0 {
            let _ = write!(text, "{sign}{hours}H");
        }
        if minutes != 0 {
            let _ = write!(text, "{sign}{minutes}M");
        }
        if seconds != 0 || fraction != 0 {
            let _ = write!(text, "{sign}{seconds}");
            if fraction != 0 {
                let digits = format!("{fraction:06}");
                let _ = write!(text, ".{}", digits.trim_end_matches('0'));
            }
            text.push('S');
        }
    } else if text.len() == 1 {
        text.push_str("T0S");
    }
    Some(string(text))
}

/// `numeric`: base-10000 digits with weight, sign and display scale, as an exact
/// decimal string.
pub(super) fn numeric(bytes: &[u8]) -> Option<Value> {
    const POSITIVE: u16 = 0x0000;
    const NEGATIVE: u16 = 0x4000;
    let mut r = Reader::new(bytes);
    let ndigits = usize::try_from(r.i16()?).ok()?;
    let weight = i32::from(r.i16()?);
    let sign = r.u16()?;
    let scale = usize::from(r.u16()?);
    let special = match sign {
        POSITIVE | NEGATIVE => None,
        0xC000 => Some("NaN"),
        0xD000 => Some("Infinity"),
        0xF000 => Some("-Infinity"),
        _ => return None,
    };
    if let Some(special) = special {
        return Some(string(special.into()));
    }
    let digits: Vec<i16> = (0..ndigits).map(|_| r.i16()).collect::<Option<_>>()?;
    if !r.is_empty() || digits.iter().any(|d| !(0..10_000).contains(d)) {
        return None;
    }
    let digit = |i: i32| {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i))
            .copied()
            .unwrap_or(0)
    };
    let mut text = String::new();
    if sign == NEGATIVE {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        let _ = write!(text, "{}", digit(0));
        for i in 1..=weight {
            let _ = write!(text, "{:04}", digit(i));
        }
    }
    if scale > 0 {
        let mut fraction = String::with_capacity(scale + 4);
        let mut i = weight + 1;
        while fraction.len() < scale {
            let _ = write!(fraction, "{:04}", digit(i));
            i += 1;
        }
        fraction.truncate(scale);
        text.push('.');
        text.push_str(&fraction);
    }
    Some(string(text))
}

/// `money`: a count of cents (assuming the usual two fractional digits).
pub(super) fn money(bytes: &[u8]) -> Option<Value> {
    let cents = exact(bytes, Reader::i64)?;
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    Some(string(format!("{sign}{}.{:02}", abs / 100, abs % 100)))
}

/// `uuid`: 16 bytes, hyphenated.
pub(super) fn uuid(bytes: &[u8]) -> Option<Value> {
    if bytes.len() != 16 {
        return None;
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Some(string(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )))
}

/// `inet` / `cidr`: family, prefix bits, cidr flag, address length, address.
pub(super) fn inet(bytes: &[u8]) -> Option<Value> {
    let mut r = Reader::new(bytes);
    let family = r.take(1)?[0];
    let bits = r.take(1)?[0];
    let is_cidr = r.take(1)?[0] != 0;
    let len = usize::from(r.take(1)?[0]);
    let address = r.take(len)?;
    let (text, max_bits) = match family {
        2 => (
            Ipv4Addr::from(<[u8; 4]>::try_from(address).ok()?).to_string(),
            32,
        ),
        3 => (
            Ipv6Addr::from(<[u8; 16]>::try_from(address).ok()?).to_string(),
            128,
        ),
        _ => return None,
    };
    Some(string(if is_cidr || bits != max_bits {
        format!("{text}/{bits}")
    } else {
        text
    }))
}

/// `macaddr` / `macaddr8`: colon-separated hex bytes.
pub(super) fn mac(bytes: &[u8]) -> Option<Value> {
    if bytes.len() != 6 && bytes.len() != 8 {
        return None;
    }
    let parts: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Some(string(parts.join(":")))
}

/// `jsonb`: a version byte (1) and the JSON text.
pub(super) fn jsonb(bytes: &[u8]) -> Option<Value> {
    match bytes.split_first() {
        Some((1, text)) => Some(json(text)),
        _ => None,
    }
}

/// `json`: the JSON text; text that does not parse stays a string.
pub(super) fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| string(String::from_utf8_lossy(bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_bytes(weight: i16, sign: u16, scale: u16, digits: &[i16]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend((digits.len() as i16).to_be_bytes());
        b.extend(weight.to_be_bytes());
        b.extend(sign.to_be_bytes());
        b.extend(scale.to_be_bytes());
        for d in digits {
            b.extend(d.to_be_bytes());
        }
        b
    }

    fn s(v: Option<Value>) -> String {
        v.and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "<none>".into())
    }

    #[test]
    fn numerics() {
        assert_eq!(
            s(numeric(&numeric_bytes(1, 0, 2, &[12, 3456, 7800]))),
            "123456.78"
        );
        assert_eq!(
            s(numeric(&numeric_bytes(-1, 0x4000, 5, &[120]))),
            "-0.01200"
        );
        assert_eq!(s(numeric(&numeric_bytes(-2, 0, 6, &[500]))), "0.000005");
        assert_eq!(s(numeric(&numeric_bytes(2, 0, 0, &[1]))), "100000000");
        assert_eq!(s(numeric(&numeric_bytes(0, 0, 0, &[]))), "0");
        assert_eq!(s(numeric(&numeric_bytes(0, 0xC000, 0, &[]))), "NaN");
        assert_eq!(numeric(&numeric_bytes(0, 0, 0, &[10_000])), None);
        assert_eq!(numeric(&[0, 1]), None);
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(s(date(&0i32.to_be_bytes())), "2000-01-01");
        assert_eq!(s(date(&i32::MAX.to_be_bytes())), "infinity");
        let micros: i64 = 86_400_000_000 + 3_723_000_001;
        assert_eq!(
            s(timestamp(&micros.to_be_bytes(), true)),
            "2000-01-02T01:02:03.000001Z"
        );
        assert_eq!(s(timestamp(&i64::MIN.to_be_bytes(), false)), "-infinity");
        let mut tz = 3_600_000_000i64.to_be_bytes().to_vec();
        tz.extend((-19_800i32).to_be_bytes());
        assert_eq!(s(time_tz(&tz)), "01:00:00+05:30");
        assert_eq!(date(&[1, 2]), None);
    }

    #[test]
    fn intervals() {
        let enc = |micros: i64, days: i32, months: i32| {
            let mut b = micros.to_be_bytes().to_vec();
            b.extend(days.to_be_bytes());
            b.extend(months.to_be_bytes());
            b
        };
        assert_eq!(s(interval(&enc(0, 0, 0))), "PT0S");
        assert_eq!(s(interval(&enc(14_706_500_000, 3, 14))), "P1Y2M3DT4H5M6.5S");
        assert_eq!(s(interval(&enc(-90_000_000, 0, 0))), "PT-1M-30S");
    }

    #[test]
    fn network_and_ids() {
        assert_eq!(s(inet(&[2, 32, 0, 4, 10, 0, 0, 1])), "10.0.0.1");
        assert_eq!(s(inet(&[2, 24, 1, 4, 10, 0, 0, 0])), "10.0.0.0/24");
        assert_eq!(inet(&[2, 32, 0, 4, 10]), None);
        assert_eq!(s(mac(&[8, 0, 0x2b, 1, 2, 3])), "08:00:2b:01:02:03");
        let id: Vec<u8> = (0u8..16).collect();
        assert_eq!(s(uuid(&id)), "00010203-0405-0607-0809-0a0b0c0d0e0f");
        assert_eq!(s(money(&(-1234i64).to_be_bytes())), "-12.34");
        assert_eq!(jsonb(b"\x01{\"a\":1}"), Some(serde_json::json!({"a": 1})));
    }
}
