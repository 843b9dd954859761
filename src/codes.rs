//! Validation and normalisation of the natural codes clients send. Codes are matched
//! case-insensitively and stored upper case.
use crate::errors::AppError;

fn normalise(raw: &str) -> String {
    raw.trim().to_ascii_uppercase()
}

fn malformed(kind: &str, raw: &str, rule: &str) -> AppError {
    // Echo at most a short prefix: codes can be arbitrarily long or hostile.
    let shown: String = raw.chars().take(16).collect();
    let ellipsis = if raw.chars().count() > 16 { "…" } else { "" };
    AppError::BadUserInput(format!(
        "'{shown}{ellipsis}' is not a valid {kind}: {rule}."
    ))
}

/// ODS code: 3 to 10 letters and digits.
pub fn ods_code(raw: &str) -> Result<String, AppError> {
    let code = normalise(raw);
    if (3..=10).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(code)
    } else {
        Err(malformed(
            "ODS code",
            raw,
            "expected 3 to 10 letters and digits",
        ))
    }
}

fn prefixed_digits(raw: &str, prefix: &str, digits: usize, kind: &str) -> Result<String, AppError> {
    let code = normalise(raw);
    let ok = code.len() == prefix.len() + digits
        && code.starts_with(prefix)
        && code[prefix.len()..].bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(code)
    } else {
        Err(malformed(
            kind,
            raw,
            &format!("expected {prefix} followed by {digits} digits"),
        ))
    }
}

/// PDU code: `PZ` and 3 digits.
pub fn pz_code(raw: &str) -> Result<String, AppError> {
    prefixed_digits(raw, "PZ", 3, "PZ code")
}

/// Diabetes network code: `PN` and 2 digits.
pub fn pn_code(raw: &str) -> Result<String, AppError> {
    prefixed_digits(raw, "PN", 2, "PN code")
}

/// ONS/GSS code: one letter and 8 digits (E09000001, E92000001, W11000023).
pub fn gss_code(raw: &str) -> Result<String, AppError> {
    let code = normalise(raw);
    let b = code.as_bytes();
    if b.len() == 9 && b[0].is_ascii_alphabetic() && b[1..].iter().all(u8::is_ascii_digit) {
        Ok(code)
    } else {
        Err(malformed(
            "ONS/GSS code",
            raw,
            "expected a letter followed by 8 digits",
        ))
    }
}

/// NHS England region code, e.g. Y56.
pub fn region_code(raw: &str) -> Result<String, AppError> {
    let code = normalise(raw);
    if (3..=5).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(code)
    } else {
        Err(malformed(
            "region code",
            raw,
            "expected 3 to 5 letters and digits, e.g. Y56",
        ))
    }
}

/// OPEN UK network code, e.g. BRPNF.
pub fn network_code(raw: &str) -> Result<String, AppError> {
    let code = normalise(raw);
    if (2..=12).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(code)
    } else {
        Err(malformed(
            "OPEN UK network code",
            raw,
            "expected 2 to 12 letters and digits",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ods_codes_are_normalised_and_checked() {
        assert_eq!(ods_code(" rvv01 ").ok().as_deref(), Some("RVV01"));
        assert!(ods_code("RV").is_err());
        assert!(ods_code("RVV-01").is_err());
        assert!(ods_code("ABCDEFGHIJK").is_err());
        assert!(ods_code("ÄBC").is_err());
    }

    #[test]
    fn pz_pn_and_gss_codes() {
        assert_eq!(pz_code("pz024").ok().as_deref(), Some("PZ024"));
        assert!(pz_code("PZ24").is_err());
        assert!(pz_code("PX024").is_err());
        assert_eq!(pn_code("pn01").ok().as_deref(), Some("PN01"));
        assert!(pn_code("PN001").is_err());
        assert_eq!(gss_code("e09000001").ok().as_deref(), Some("E09000001"));
        assert!(gss_code("E0900000").is_err());
    }
}
