//! Comparison of Kubernetes resource quantities (`500m`, `2`, `1.5Gi`, `1e3`).
//!
//! The admission policy compares a Sandbox's requests and limits with its
//! class's maximum, so it needs the numeric value of a quantity. Values are
//! kept as exact rationals in thousandths (milli-units), which is the finest
//! granularity Kubernetes itself honours for resources.

use thiserror::Error;

/// A quantity string that is not in Kubernetes' quantity syntax.
#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "{0:?} is not a quantity (expected a number with an optional suffix such as n, u, m, k, M, G, Ki, Mi, Gi or an exponent like 1e3)"
)]
pub struct InvalidQuantity(pub String);

/// Value of a quantity in thousandths of a unit, e.g. `"500m"` → 500, `"1Ki"` → 1_024_000.
pub fn millis(quantity: &str) -> Result<i128, InvalidQuantity> {
    let invalid = || InvalidQuantity(quantity.to_string());
    let s = quantity.trim();
    let (sign, s) = match s.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let number_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, suffix) = s.split_at(number_end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return Err(invalid());
    }
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    // number = digits / 10^scale
    let digits: i128 = format!("{int_part}{frac_part}").parse().map_err(|_| invalid())?;
    let scale = frac_part.len() as u32;

    // Multiplier of the suffix as (numerator, power of ten), applied to millis.
    let (mul, pow10): (i128, i32) = match suffix {
        "" => (1, 0),
        "n" => (1, -9),
        "u" => (1, -6),
        "m" => (1, -3),
        "k" => (1, 3),
        "M" => (1, 6),
        "G" => (1, 9),
        "T" => (1, 12),
        "P" => (1, 15),
        "E" => (1, 18),
        "Ki" => (1 << 10, 0),
        "Mi" => (1 << 20, 0),
        "Gi" => (1 << 30, 0),
        "Ti" => (1 << 40, 0),
        "Pi" => (1 << 50, 0),
        "Ei" => (1 << 60, 0),
        exp if exp.starts_with(['e', 'E']) => (1, exp[1..].parse::<i32>().map_err(|_| invalid())?),
        _ => return Err(invalid()),
    };
    // millis = digits * mul * 10^(pow10 + 3 - scale), rounded up like Kubernetes does.
    let exponent = pow10 + 3 - scale as i32;
    let base = digits.checked_mul(mul).ok_or_else(invalid)?;
    let value = if exponent >= 0 {
        base.checked_mul(10i128.checked_pow(exponent as u32).ok_or_else(invalid)?).ok_or_else(invalid)?
    } else {
        let div = 10i128.checked_pow((-exponent) as u32).ok_or_else(invalid)?;
        (base + div - 1) / div
    };
    Ok(sign * value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kubernetes_forms() {
        assert_eq!(millis("500m"), Ok(500));
        assert_eq!(millis("2"), Ok(2000));
        assert_eq!(millis("1.5"), Ok(1500));
        assert_eq!(millis("1Ki"), Ok(1_024_000));
        assert_eq!(millis("1.5Gi"), Ok(1_610_612_736_000));
        assert_eq!(millis("8G"), Ok(8_000_000_000_000));
        assert_eq!(millis("1e3"), Ok(1_000_000));
        assert_eq!(millis("0.1m"), Ok(1), "sub-milli values round up");
        assert_eq!(millis("100n"), Ok(1), "nano: rounds up too");
        assert_eq!(millis("5000u"), Ok(5));
        assert_eq!(millis("-1"), Ok(-1000));
    }

    #[test]
    fn refuses_what_is_not_a_quantity() {
        for bad in ["", "abc", "1.2.3", "5 Gi", "1Xi", ".", "1e"] {
            assert!(millis(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(millis("ten").unwrap_err().to_string().contains("\"ten\""));
    }
}
